/**
 * The real backends, called through Koffi with no native build step: io_uring
 * registered buffers on Linux, Winsock Registered I/O on Windows.
 *
 * @since 0.1.0
 */
import * as RegisteredIo from "@effect-rio/core/RegisteredIo"
import * as RioError from "@effect-rio/core/RioError"
import * as Config from "effect/Config"
import * as ConfigError from "effect/ConfigError"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as linux from "./internal/linux/driver.js"
import * as windows from "./internal/windows/driver.js"

/**
 * Options of the Linux backend.
 *
 * @since 0.1.0
 * @category models
 */
export interface LinuxOptions {
  /**
   * Size of the sparse registered-buffer table, 1..16384 (default 16384, io_uring's
   * maximum): at most this many registrations at once; one more is `WSAENOBUFS`.
   */
  readonly slots?: number
  /**
   * Completion-queue entries of the ring that carries the sockets' operations (rounded up to
   * a power of two by the kernel; default twice the 256-entry submission queue). However
   * small, no completion is lost: the kernel holds overflow (IORING_FEAT_NODROP) and the
   * driver drains before submitting more.
   */
  readonly completionQueueSize?: number
  /**
   * Whether UDP and TCP receive rings let the kernel fill their slots where it can (Linux
   * 6.0+; default true): one multishot RECVMSG per UDP socket, and one multishot RECV per TCP
   * stream, into provided buffers. With false, or on an older kernel, the core posts one
   * receive per free slot (UDP) or per stream (TCP) instead — slower, the same behaviour.
   */
  readonly multishot?: boolean
}

/**
 * Linux: one io_uring per layer with a sparse registered-buffer table; a buffer's
 * `BufferId` is its slot. Fails with `RioUnavailable` where io_uring is missing or
 * disabled.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerLinux = (
  options: LinuxOptions = {}
): Layer.Layer<RegisteredIo.RegisteredIo, RioError.RioUnavailable> => RegisteredIo.layerDriver(linux.make(options))

/**
 * Options of the Windows backend.
 *
 * @since 0.1.0
 * @category models
 */
export interface WindowsOptions {
  /**
   * Initial entries of the completion queue that the layer's sockets share (default 1024).
   * It grows as request queues are added, so no completion is ever lost.
   */
  readonly completionQueueSize?: number
}

/**
 * Windows: Winsock Registered I/O (RIORegisterBuffer / RIODeregisterBuffer from the
 * extension function table; sockets over RIO request queues and one shared completion
 * queue). Fails with `RioUnavailable` carrying the Winsock code where
 * the provider has no RIO (WSAEOPNOTSUPP 10045 under Wine).
 *
 * @since 0.1.0
 * @category layers
 */
export const layerWindows = (
  options: WindowsOptions = {}
): Layer.Layer<RegisteredIo.RegisteredIo, RioError.RioUnavailable> =>
  // Only the public fields: the driver's ABI-testing seam is not reachable from here.
  RegisteredIo.layerDriver(
    windows.make(options.completionQueueSize === undefined ? {} : { completionQueueSize: options.completionQueueSize })
  )

/**
 * The real backend of the running platform: Linux or Windows; elsewhere `RioUnavailable`
 * with a message that says what is supported.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: Layer.Layer<RegisteredIo.RegisteredIo, RioError.RioUnavailable> = Layer.suspend(() => {
  switch (process.platform) {
    case "linux":
      return layerLinux()
    case "win32":
      return layerWindows()
    default:
      return Layer.fail(
        new RioError.RioUnavailable({
          code: 0,
          operation: "KoffiRio.layer",
          message: `No registered I/O backend for platform "${process.platform}": effect-rio supports ` +
            "Linux (io_uring, kernel 5.19+) and Windows (Winsock RIO, Windows 8 / Server 2012+). " +
            "Use RioTest.layer() elsewhere."
        })
      )
  }
})

/**
 * The backend an application runs on, chosen by configuration without code changes:
 * `EFFECT_RIO_BACKEND=koffi` (the default: the real backend of the platform) or the name
 * of one of `alternatives`, for example `layerConfig({ test: RioTest.layer() })` for the
 * in-memory double. The alternatives are arguments so that this production package does
 * not depend on the test double. An empty (or blank) value means the default, as an unset
 * one does, so that `EFFECT_RIO_BACKEND= cmd` and a blank line in an env file do not fail.
 * Any other value is a `ConfigError` naming the choices.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = <E = never>(
  alternatives: Readonly<Record<string, Layer.Layer<RegisteredIo.RegisteredIo, E>>> = {},
  config: Config.Config<string> = Config.string("EFFECT_RIO_BACKEND").pipe(Config.withDefault("koffi"))
): Layer.Layer<RegisteredIo.RegisteredIo, E | RioError.RioUnavailable | ConfigError.ConfigError> =>
  Layer.unwrapEffect(
    Effect.flatMap(config, (value) => {
      const backend = value.trim() === "" ? "koffi" : value
      if (backend === "koffi") {
        return Effect.succeed<Layer.Layer<RegisteredIo.RegisteredIo, E | RioError.RioUnavailable>>(layer)
      }
      if (Object.hasOwn(alternatives, backend)) return Effect.succeed(alternatives[backend]!)
      const choices = ["koffi", ...Object.keys(alternatives)].map((name) => `"${name}"`).join(", ")
      return Effect.fail(
        ConfigError.InvalidData(["EFFECT_RIO_BACKEND"], `Expected one of ${choices}, got "${backend}"`)
      )
    })
  )
