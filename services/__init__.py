"""The five Danbao services and the outside-system simulators."""
