"""The install scripts, shipped as package data so an installed coordinator can serve them
(`shareai.coordinator.install_routes`). These are the canonical copies; `installers/` in the
repository holds byte-identical copies at their documented places (a test keeps them equal)."""
