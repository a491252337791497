//! Compiles `proto/orders.proto` with protox (pure Rust): no `protoc`.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto");
    let descriptors = protox::compile(["orders.proto"], ["proto"])?;
    tonic_prost_build::configure()
        // The client is built on squall's pool, not on tonic's transport.
        .build_transport(false)
        .compile_fds(descriptors)?;
    Ok(())
}
