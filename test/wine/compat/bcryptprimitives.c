/*
 * Stand-in for bcryptprimitives.dll, which Wine 8 (Debian 12) does not ship.
 *
 * Go 1.22+ programs resolve ProcessPrng from this DLL at start-up and abort when it is
 * missing; esbuild.exe is one, and tsx needs esbuild to load our TypeScript under Windows
 * Node. This DLL exports only that one function, backed by RtlGenRandom (advapi32's
 * SystemFunction036), which Wine does implement. It is installed into the test
 * WINEPREFIX by .ci/wine-setup.sh and never ships anywhere.
 */
#include <windows.h>
#include <ntsecapi.h>

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T length)
{
    /* RtlGenRandom takes a ULONG length, so fill large requests in chunks. */
    while (length > 0) {
        ULONG chunk = length > 0x10000000 ? 0x10000000 : (ULONG)length;
        if (!RtlGenRandom(data, chunk))
            return FALSE;
        data += chunk;
        length -= chunk;
    }
    return TRUE;
}
