// The sign-out popup's callback: hands the provider's answer to the page that opened the popup
// (oidc-client-ts's signoutPopup there is waiting for it and closes this window).
import { UserManager } from 'oidc-client-ts';

const config = await (await fetch('/config.json')).json();
const oidc = new UserManager({ authority: config.issuer, client_id: config.clientId, redirect_uri: `${location.origin}/` });
await oidc.signoutPopupCallback();
