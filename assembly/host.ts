/**
 * The core's only imports (GUIDE §1: the core never names a device). Everything that is not RAM
 * goes to the host's bus through these two functions; 64-bit values cross as 32-bit halves so the
 * host needs no BigInt. The data half of a read comes back in the C_MMIO_LO/HI mailbox.
 * Return value: 0 = ok, 1 = access fault (BusStatus in src/bus/types.ts).
 */
@external("env", "mmio_read")
export declare function mmio_read(addrLo: u32, addrHi: u32, size: u32): u32;

@external("env", "mmio_write")
export declare function mmio_write(addrLo: u32, addrHi: u32, size: u32, lo: u32, hi: u32): u32;
