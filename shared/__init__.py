"""Code that two or more Danbao services truly share: contracts, messaging, storage, runtime."""
