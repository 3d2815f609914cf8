/**
 * The in-memory test double of effect-rio, with a simulated network and fault injection.
 *
 * @since 0.1.0
 */
export * as RioTest from "./RioTest.js"
