/* bindgen input: the system's mosquitto plugin headers (Debian: mosquitto-dev).
 * 2.0.11's mosquitto_plugin.h does not include mosquitto_broker.h, so the broker header comes first. */
#include <stdbool.h>
#include <stddef.h>
#include <mosquitto.h>
#include <mosquitto_broker.h>
#include <mosquitto_plugin.h>
