"""The errors the host driver raises about the device and the link to it.

Catch `DeviceError` to catch them all. Kept free of the compiler's imports so
the driver installs on a board on its own.
"""
from __future__ import annotations


class DeviceError(Exception):
    """The device or the link to it misbehaved."""


class DeviceTimeout(DeviceError, TimeoutError):
    """The device did not answer before the deadline."""


class FrameError(DeviceError):
    """A received UART frame is damaged; it was dropped, nothing of it was used."""


class FrameEncodingError(FrameError):
    """The bytes between two 0x00 delimiters are not valid COBS."""


class FrameTooShort(FrameError):
    """A frame is shorter than seq + type + CRC32 (6 bytes once decoded)."""


class FrameTooLong(FrameError):
    """More bytes arrived without a 0x00 delimiter than the longest legal frame."""


class FrameCRCError(FrameError):
    """A frame's CRC32 does not match its contents."""
