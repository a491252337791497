//! Compiles `proto/echo.proto` with protox (pure Rust), so building squall
//! needs no `protoc` on the machine.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto");
    let descriptors = protox::compile(["echo.proto"], ["proto"])?;
    tonic_prost_build::configure()
        // The generated `connect` helpers would pull in tonic's transport;
        // squall's clients are built on a pool or an explicit Channel instead.
        .build_transport(false)
        .compile_fds(descriptors)?;
    Ok(())
}
