import helmet from "helmet";

/**
 * Security headers from helmet. The content security policy lets the demo
 * page load only its own files, Socket.IO's client bundle, and OneSignal's
 * Web SDK when an app id is configured.
 */
export function securityHeaders() {
  return helmet({
    contentSecurityPolicy: {
      directives: {
        defaultSrc: ["'self'"],
        scriptSrc: ["'self'", "https://cdn.onesignal.com"],
        connectSrc: ["'self'", "ws:", "wss:", "https://*.onesignal.com"],
        imgSrc: ["'self'", "data:"],
        styleSrc: ["'self'", "https://onesignal.com"],
        frameSrc: ["https://*.onesignal.com"],
      },
    },
  });
}
