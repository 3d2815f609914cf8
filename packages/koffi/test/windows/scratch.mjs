

import koffi from "koffi"
console.log("koffi", koffi.version, process.platform)
const ws2 = koffi.load("ws2_32.dll")
const WSAStartup = ws2.func("int __stdcall WSAStartup(uint16_t v, _Out_ uint8_t *data)")
const WSAGetLastError = ws2.func("int __stdcall WSAGetLastError()")
const WSASocketW = ws2.func("uintptr_t __stdcall WSASocketW(int af, int type, int protocol, void *info, uint32_t g, uint32_t flags)")
const WSAIoctl = ws2.func("int __stdcall WSAIoctl(uintptr_t s, uint32_t code, void *inb, uint32_t cbin, void *outb, uint32_t cbout, _Out_ uint32_t *ret, void *ov, void *cr)")
const data = Buffer.alloc(512)
console.log("WSAStartup", WSAStartup(0x0202, data))
const s = WSASocketW(2, 2, 0, null, 0, 0x01 | 0x100)
console.log("socket", s, typeof s, WSAGetLastError())
const guid = Buffer.from([0x81,0xe0,0x09,0x85, 0xdd,0x96, 0x05,0x40, 0xb1,0x65,0x9e,0x2e,0xe8,0xc7,0x9e,0x3f])
const table = Buffer.alloc(112); table.writeUInt32LE(112, 0)
const ret = [0]
const r = WSAIoctl(s, 0xC8000024, guid, 16, table, 112, ret, null, null)
console.log("ioctl", r, WSAGetLastError(), ret)
const u = new Uint8Array(64); const sub = u.subarray(8)
console.log("addr", koffi.address(u), koffi.address(sub), koffi.address(sub) - koffi.address(u))
