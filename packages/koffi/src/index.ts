/**
 * @since 0.1.0
 */
export * as KoffiRio from "./KoffiRio.js"
