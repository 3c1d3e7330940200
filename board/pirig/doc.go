// Package pirig is the Raspberry Pi test rig board: a Pi wired to the same
// kind of LCD, keypad and LEDs as the phone (docs/rig.md has the wiring).
//
// Open detects the Pi (periph host/rpi), initialises periph's host drivers
// and opens the parts named in a JSON Config:
//
//   - display: SSD1306 128×64 OLED on I²C or SPI (periph devices/ssd1306),
//     or a 20×4 HD44780 character LCD behind a PCF8574 I²C backpack (HD44780,
//     this package);
//   - keypad: a 4×4 matrix on GPIO pins or on an MCP23017 expander, scanned
//     and debounced by Matrix;
//   - LEDs on GPIO pins; the USB gadget serial tether (/dev/ttyGS0, opened
//     with go.bug.st/serial); flash on an MTD character device (MEMERASE
//     ioctl) or an fsynced image file; the /dev/watchdog device; the system
//     clock (settimeofday).
//
// Only this package (and cmd/) may import periph host drivers and the global
// registries. Everything builds on every platform; on a machine that is not
// a Pi, Open returns an error wrapping board.ErrNotDetected.
//
// # Datasheets
//
//   - HD44780U: https://www.sparkfun.com/datasheets/LCD/HD44780.pdf
//   - PCF8574: https://www.ti.com/lit/ds/symlink/pcf8574.pdf
//   - SSD1306: https://cdn-shop.adafruit.com/datasheets/SSD1306.pdf
package pirig
