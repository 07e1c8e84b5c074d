//! Host bindings of `zendesk-gateway:plugin@0.2.0` (kept in `wit/versions/0.2.0/`), for
//! plugins built against it; `runtime::wit::since_v0_2_0` implements them by delegating
//! to the latest version.

wasmtime::component::bindgen!({
    path: "../wit/versions/0.2.0",
    world: "brand-plugin",
    imports: { default: async | trappable },
    exports: { default: async },
});
