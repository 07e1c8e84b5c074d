//! Host bindings of `zendesk-gateway:plugin@0.1.0` (kept in `wit/versions/0.1.0/`), for
//! plugins built against it; `runtime::wit::since_v0_1_0` implements them by delegating
//! to the latest version.

wasmtime::component::bindgen!({
    path: "../wit/versions/0.1.0",
    world: "brand-plugin",
    imports: { default: async | trappable },
    exports: { default: async },
});
