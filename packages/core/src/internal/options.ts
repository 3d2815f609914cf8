/**
 * Socket options: the `SocketOptions` a user gives, checked and turned into the settings a
 * driver applies when it opens a socket; an option read back; a multicast membership. Every
 * value is checked here, so that each backend gets the same integers and refuses the same
 * inputs with the same `WSAEINVAL`.
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { isIP } from "node:net"
import type { NetSocket, OptionName, OptionSettings } from "../Driver.js"
import * as RioError from "../RioError.js"
import type * as SocketOptions from "../SocketOptions.js"
import { invalid, show } from "./address.js"
import type { Protocol } from "./observability.js"
import type { SocketState } from "./requests.js"
import { aborted } from "./requests.js"

type Settings = Array<readonly [name: OptionName, value: number]>

/** What a Unix domain socket has: the rest are IP's, UDP's or TCP's. */
const UNIX: ReadonlySet<OptionName> = new Set<OptionName>(["receiveBufferSize", "sendBufferSize"])

const notUnix = (operation: string, name: string) =>
  new RioError.WSAENOPROTOOPT({
    operation,
    message: `${name} is an option of IP sockets; a Unix domain socket has only receiveBufferSize and sendBufferSize.`
  })

/** The options that are yes or no (0 or 1 for a driver). */
const BOOLEAN: ReadonlySet<OptionName> = new Set<OptionName>([
  "reuseAddress",
  "reusePort",
  "ipv6Only",
  "noDelay",
  "keepAlive",
  "broadcast",
  "multicastLoopback"
])

/** The inclusive range of each numeric option. */
const RANGES: Partial<Record<OptionName, readonly [number, number]>> = {
  receiveBufferSize: [1, 2 ** 31 - 1],
  sendBufferSize: [1, 2 ** 31 - 1],
  ttl: [1, 255],
  multicastTTL: [0, 255]
}

/** TCP_KEEPIDLE's largest value on Linux, and a TCP_KEEPALIVE Windows takes. */
const MAX_KEEPALIVE_SECONDS = 32767

/** Adds `name` to `settings` when given (or `fallback`), or returns the WSAEINVAL that names it. */
const add = (
  operation: string,
  settings: Settings,
  options: Partial<Record<OptionName, unknown>>,
  name: OptionName,
  fallback?: number
): ReturnType<typeof invalid> | undefined => {
  const value = options[name]
  if (value === undefined) {
    if (fallback !== undefined) settings.push([name, fallback])
    return undefined
  }
  if (BOOLEAN.has(name)) {
    if (typeof value !== "boolean") return invalid(operation, `${name} ${String(value)} is not true or false.`)
    settings.push([name, value ? 1 : 0])
    return undefined
  }
  const [low, high] = RANGES[name]!
  if (!(Number.isSafeInteger(value) && (value as number) >= low && (value as number) <= high)) {
    return invalid(operation, `${name} ${String(value)} is not an integer in ${low}..${high}.`)
  }
  settings.push([name, value as number])
  return undefined
}

/** TCP_KEEPIDLE in whole seconds, or the WSAEINVAL that says why not. */
const addKeepAliveDelay = (
  operation: string,
  settings: Settings,
  delay: Duration.DurationInput | undefined
): ReturnType<typeof invalid> | undefined => {
  if (delay === undefined) return undefined
  const decoded = Duration.decodeUnknown(delay)
  const millis = Option.isSome(decoded) ? Duration.toMillis(decoded.value) : Number.NaN
  const seconds = millis / 1000
  if (!(Number.isInteger(seconds) && seconds >= 1 && seconds <= MAX_KEEPALIVE_SECONDS)) {
    return invalid(
      operation,
      `keepAliveInitialDelay ${String(delay)} is not a whole number of seconds in 1..${MAX_KEEPALIVE_SECONDS} ` +
        "(the kernel counts it in seconds)."
    )
  }
  settings.push(["keepAliveInitialDelay", seconds])
  return undefined
}

/** The first error of `checks`, or the settings they built. */
const settled = (settings: Settings, checks: ReadonlyArray<() => ReturnType<typeof invalid> | undefined>) => {
  for (const check of checks) {
    const bad = check()
    if (bad !== undefined) return bad
  }
  return settings
}

const bufferSizes = (operation: string, settings: Settings, options: SocketOptions.BufferSizeOptions) => [
  () => add(operation, settings, options, "receiveBufferSize"),
  () => add(operation, settings, options, "sendBufferSize")
]

// SO_REUSEADDR only when asked: a listener's default is the platform's (Linux: on, as Node's
// servers; Windows: off, where it would let another socket take the port), kept by its driver.
const binding = (operation: string, settings: Settings, options: SocketOptions.BindOptions) => [
  () => add(operation, settings, options, "reuseAddress"),
  () => add(operation, settings, options, "reusePort"),
  () => add(operation, settings, options, "ipv6Only"),
  ...bufferSizes(operation, settings, options)
]

/** A stream's options: TCP_NODELAY always (on by default: a slice is a message). */
const streaming = (operation: string, settings: Settings, options: SocketOptions.StreamOptions) => [
  () => add(operation, settings, options, "noDelay", 1),
  () => add(operation, settings, options, "keepAlive"),
  () => addKeepAliveDelay(operation, settings, options.keepAliveInitialDelay)
]

/** A UDP socket's settings: how it binds, and its datagrams'. */
export const udpSettings = (operation: string, options: SocketOptions.UdpOptions) => {
  const settings: Settings = []
  return settled(settings, [
    ...binding(operation, settings, options),
    () => add(operation, settings, options, "broadcast"),
    () => add(operation, settings, options, "ttl"),
    () => add(operation, settings, options, "multicastTTL"),
    () => add(operation, settings, options, "multicastLoopback")
  ])
}

/**
 * A listener's settings, and those of each stream it accepts. The stream options go on the
 * listener too (Linux and Windows hand them down to accepted sockets), so that one the
 * platform lacks fails `listen`, not every `accept` after it.
 */
export const listenSettings = (operation: string, options: SocketOptions.ListenOptions) => {
  const accepted: Settings = []
  const streams = settled(accepted, streaming(operation, accepted, options))
  if (!Array.isArray(streams)) return streams
  const listener: Settings = []
  const bound = settled(listener, binding(operation, listener, options))
  if (!Array.isArray(bound)) return bound
  return { listener: [...listener, ...accepted] as OptionSettings, accepted: accepted as OptionSettings }
}

/** A connecting stream's settings. */
export const connectSettings = (operation: string, options: SocketOptions.ConnectOptions) => {
  const settings: Settings = []
  return settled(settings, [...bufferSizes(operation, settings, options), ...streaming(operation, settings, options)])
}

/**
 * A Unix domain socket's settings: its buffer sizes, the only options it has here. An IP or
 * TCP option given all the same is refused, not ignored.
 */
export const unixSettings = (operation: string, options: SocketOptions.BufferSizeOptions) => {
  const foreign = Object.keys(options).find((name) =>
    isOptionName(name) && !UNIX.has(name) && (options as Record<string, unknown>)[name] !== undefined
  )
  if (foreign !== undefined) return notUnix(operation, foreign)
  const settings: Settings = []
  return settled(settings, bufferSizes(operation, settings, options))
}

const isOptionName = (name: unknown): name is OptionName =>
  typeof name === "string" &&
  (BOOLEAN.has(name as OptionName) || Object.hasOwn(RANGES, name) || name === "keepAliveInitialDelay")

/** The options of one protocol only: the other's sockets do not have them, on any backend. */
const ONLY: Partial<Record<OptionName, "udp" | "tcp">> = {
  noDelay: "tcp",
  keepAlive: "tcp",
  keepAliveInitialDelay: "tcp",
  broadcast: "udp",
  multicastTTL: "udp",
  multicastLoopback: "udp"
}

/** Why `name` is no option of this protocol's sockets, if it is not. */
const refusedName = (protocol: Protocol, name: unknown) => {
  if (!isOptionName(name)) return invalid("option", `${String(name)} is not a socket option.`)
  if (protocol === "unix") return UNIX.has(name) ? undefined : notUnix("option", name)
  const only = Object.hasOwn(ONLY, name) ? ONLY[name] : undefined
  if (only === undefined || only === protocol) return undefined
  return new RioError.WSAENOPROTOOPT({
    operation: "option",
    message: `${name} is an option of ${only.toUpperCase()} sockets; this is a ${protocol.toUpperCase()} socket.`
  })
}

/** `socket.option(name)`: the kernel's value, as a boolean where the option is yes or no. */
export const readOption = <K extends keyof SocketOptions.OptionValues>(
  state: SocketState,
  protocol: Protocol,
  name: K
): Effect.Effect<SocketOptions.OptionValues[K], SocketOptions.OptionError> =>
  Effect.suspend(() => {
    const refused = refusedName(protocol, name)
    if (refused !== undefined) return Effect.fail(refused)
    if (state.closed) return Effect.fail(aborted("the socket is closed"))
    const value = state.net.getOption(state.socket, name)
    if (typeof value !== "number") return Effect.fail(value)
    return Effect.succeed((BOOLEAN.has(name) ? value !== 0 : value) as SocketOptions.OptionValues[K])
  })

const isIPv6 = (socket: NetSocket) => "host" in socket.local && socket.local.host.includes(":")

/** Options that mean something only before a socket binds. */
const BIND_ONLY: ReadonlySet<OptionName> = new Set<OptionName>(["reuseAddress", "reusePort", "ipv6Only"])

/** `socket.setOption(name, value)`: checked as at creation, then set in the kernel. */
export const writeOption = <K extends keyof SocketOptions.OptionValues>(
  state: SocketState,
  protocol: Protocol,
  name: K,
  value: SocketOptions.OptionValues[K]
): Effect.Effect<void, SocketOptions.OptionError> =>
  Effect.suspend(() => {
    const operation = "setOption"
    const refused = refusedName(protocol, name)
    if (refused !== undefined) return Effect.fail(refused)
    if (BIND_ONLY.has(name)) {
      return Effect.fail(invalid(operation, `${name} matters only before the socket binds: give it when you open it.`))
    }
    const settings: Settings = []
    const bad = name === "keepAliveInitialDelay"
      ? addKeepAliveDelay(operation, settings, Duration.seconds(value as number))
      : add(operation, settings, { [name]: value }, name)
    if (bad !== undefined) return Effect.fail(bad)
    if (state.closed) return Effect.fail(aborted("the socket is closed"))
    const error = state.net.setOption(state.socket, name, settings[0]![1])
    return error === undefined ? Effect.void : Effect.fail(error)
  })

const isMulticast = (host: string, family: number): boolean =>
  family === 4 ? Number(host.split(".")[0]) >> 4 === 14 : /^ff[0-9a-f]{2}:/i.test(host)

/**
 * `addMembership` / `dropMembership`: the group and interface checked against the socket's
 * family, and the socket's own memberships kept here, so that joining twice
 * (`WSAEADDRINUSE`) or leaving a group not joined (`WSAEADDRNOTAVAIL`) is answered the same
 * on every backend.
 */
export const membership = (
  state: SocketState,
  groups: Set<string>,
  group: string,
  iface: string | undefined,
  join: boolean
): Effect.Effect<void, SocketOptions.OptionError> =>
  Effect.suspend(() => {
    const operation = join ? "addMembership" : "dropMembership"
    const family = typeof group === "string" ? isIP(group) : 0
    if (family === 0 || !isMulticast(group, family)) {
      return Effect.fail(invalid(operation, `group ${String(group)} is not a numeric multicast address.`))
    }
    if ((family === 6) !== isIPv6(state.socket)) {
      return Effect.fail(invalid(
        operation,
        `group ${group} is not of this socket's family (bound to ${show(state.socket.local)}).`
      ))
    }
    if (iface !== undefined && (family === 6 || typeof iface !== "string" || isIP(iface) !== 4)) {
      return Effect.fail(invalid(
        operation,
        family === 6
          ? "An interface is taken for IPv4 groups only: leave it out (the system picks one)."
          : `iface ${String(iface)} is not a numeric IPv4 address.`
      ))
    }
    if (state.closed) return Effect.fail(aborted("the socket is closed"))
    // One spelling per group: IPv6 hex digits in either case name the same group.
    const key = `${group.toLowerCase()}%${iface ?? ""}`
    if (join === groups.has(key)) {
      const on = iface === undefined ? "" : ` on ${iface}`
      return Effect.fail(
        join
          ? new RioError.WSAEADDRINUSE({ operation, message: `This socket is already a member of ${group}${on}.` })
          : new RioError.WSAEADDRNOTAVAIL({ operation, message: `This socket is not a member of ${group}${on}.` })
      )
    }
    const error = state.net.membership(state.socket, group, iface, join)
    if (error !== undefined) return Effect.fail(error)
    if (join) groups.add(key)
    else groups.delete(key)
    return Effect.void
  })
