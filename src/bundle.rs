//! Reading a bundle's config.json.
