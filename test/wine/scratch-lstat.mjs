import fs from "node:fs"
const p = "Z:\\work\\main\\packages\\koffi\\node_modules\\koffi"
const st = fs.lstatSync(p)
console.log("isSymlink", st.isSymbolicLink(), "isDir", st.isDirectory())
try { console.log("readlink", fs.readlinkSync(p)) } catch (e) { console.log("readlink err", e.code) }
console.log("realpath", fs.realpathSync(p))
try { console.log("realpath.native", fs.realpathSync.native(p)) } catch (e) { console.log("native err", e.code) }
