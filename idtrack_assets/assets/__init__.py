"""Software-defined assets of idtrack-atlas, by domain."""
