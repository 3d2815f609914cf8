/**
 * @since 0.1.0
 */
export * as RioTest from "./RioTest.js"
