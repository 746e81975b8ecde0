"""Operating Danbao: the danbao command."""
