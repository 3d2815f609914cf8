/**
 * The real effect-rio backends through Koffi: io_uring on Linux, Winsock RIO on Windows.
 *
 * @since 0.1.0
 */
export * as KoffiRio from "./KoffiRio.js"
