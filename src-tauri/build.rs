fn main() {
    // tauri.conf.json lives at the repository root (the product's layout); paths inside it
    // resolve from there.
    tauri_build::try_build(tauri_build::Attributes::new().config_path("../tauri.conf.json"))
        .expect("tauri-build failed");
}
