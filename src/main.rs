fn main() -> std::process::ExitCode {
    return_large_buffers_to_the_system();
    portal::cli::main()
}

/// glibc serves allocations above a threshold (128 KiB at first) straight
/// from the kernel and gives them back when freed, but raises that
/// threshold each time such a block is freed, after which 1 MiB ingest
/// bodies come from the heap and their memory stays with the process.
/// Fixing the threshold keeps it at 128 KiB: a burst of large bodies does
/// not leave the portal's resident memory raised for good (measured by
/// `scripts/fault-test --flood`).
fn return_large_buffers_to_the_system() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator settings; called once at start,
    // before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 128 * 1024);
    }
}
