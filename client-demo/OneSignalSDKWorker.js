// OneSignal's web push service worker. The Web SDK registers it from the site
// root, where the server serves this folder, and only when the server has
// ONESIGNAL_APP_ID set.
importScripts("https://cdn.onesignal.com/sdks/web/v16/OneSignalSDK.sw.js");
