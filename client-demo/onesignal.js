// @ts-check
// OneSignal web push for the demo page. The Web SDK is loaded only when the
// server has a OneSignal app id; otherwise nothing here touches the network.

/** URL of OneSignal's Web SDK, version 16. */
const SDK_URL = "https://cdn.onesignal.com/sdks/web/v16/OneSignalSDK.page.js";

/**
 * The few SDK calls this page makes.
 * @typedef {object} OneSignalSdk
 * @property {(options: { appId: string; allowLocalhostAsSecureOrigin?: boolean }) => Promise<void>} init
 * @property {(externalId: string) => Promise<void>} login
 * @property {() => Promise<void>} logout
 * @property {{ requestPermission: () => Promise<void> }} Notifications
 */

/** @typedef {Window & { OneSignalDeferred?: ((sdk: OneSignalSdk) => unknown)[] }} OneSignalWindow */

let initialized = false;

/**
 * Loads the SDK once, initializes it with the app id and logs the device in
 * as `userId`, the OneSignal external id that the server's pushes target.
 * @param {string} appId
 * @param {string} userId
 */
export function loginToOneSignal(appId, userId) {
  const win = /** @type {OneSignalWindow} */ (window);
  // The SDK runs the functions queued here once it has loaded.
  win.OneSignalDeferred = win.OneSignalDeferred ?? [];
  if (!document.querySelector("script[data-onesignal-sdk]")) {
    const script = document.createElement("script");
    script.src = SDK_URL;
    script.defer = true;
    script.dataset.onesignalSdk = "";
    document.head.append(script);
  }
  win.OneSignalDeferred.push(async (sdk) => {
    if (!initialized) {
      initialized = true;
      const host = window.location.hostname;
      await sdk.init({
        appId,
        // OneSignal's local testing guide sets this option on localhost.
        allowLocalhostAsSecureOrigin:
          host === "localhost" || host === "127.0.0.1",
      });
    }
    await sdk.login(userId);
  });
}

/**
 * Shows the browser's notification prompt through OneSignal. Browsers show
 * it only in response to a click or tap, so call this from a click handler.
 */
export function requestPushPermission() {
  const win = /** @type {OneSignalWindow} */ (window);
  win.OneSignalDeferred?.push((sdk) => sdk.Notifications.requestPermission());
}

/** Maximum wait for OneSignal's logout before the page goes on. */
const LOGOUT_TIMEOUT_MS = 2000;

/**
 * Logs the device out of OneSignal, if the SDK was loaded, so pushes to the
 * previous user stop reaching this browser.
 * @returns {Promise<void>} settles when the SDK is done or after LOGOUT_TIMEOUT_MS
 */
export function logoutOfOneSignal() {
  const win = /** @type {OneSignalWindow} */ (window);
  const queue = win.OneSignalDeferred;
  if (!initialized || !queue) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, LOGOUT_TIMEOUT_MS);
    queue.push(async (sdk) => {
      try {
        await sdk.logout();
      } finally {
        clearTimeout(timer);
        resolve();
      }
    });
  });
}
