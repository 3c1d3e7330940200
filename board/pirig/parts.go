package pirig

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"periph.io/x/conn/v3/gpio"

	"github.com/deskphone/deskphone/board"
)

// SystemClock is the rig's wall clock: time.Now, and settimeofday to set it.
type SystemClock struct{}

var _ board.Clock = SystemClock{}

// Now implements board.Clock.
func (SystemClock) Now() time.Time { return time.Now() }

// Set implements board.Clock (needs CAP_SYS_TIME).
func (SystemClock) Set(t time.Time) error { return setSystemTime(t) }

// LEDs drives the indicator LEDs from GPIO pins; a nil pin is an LED that
// is not fitted (Set succeeds and does nothing).
type LEDs struct {
	Status, Message gpio.PinOut
	// ActiveLow inverts the levels (LED wired to 3V3 through the pin).
	ActiveLow bool
}

var _ board.LEDs = (*LEDs)(nil)

// Set implements board.LEDs.
func (l *LEDs) Set(led board.LED, on bool) error {
	var p gpio.PinOut
	switch led {
	case board.LEDStatus:
		p = l.Status
	case board.LEDMessage:
		p = l.Message
	default:
		return fmt.Errorf("pirig: leds: unknown led %d", led)
	}
	if p == nil {
		return nil
	}
	if err := p.Out(gpio.Level(on != l.ActiveLow)); err != nil {
		return fmt.Errorf("pirig: leds: %s: %w", p, err)
	}
	return nil
}

// Watchdog pings a Linux watchdog device (/dev/watchdog) by writing to it.
// Opening the device arms it: if the process dies without pinging, the
// board reboots. Close disarms it with the magic 'V' (where the driver
// allows), so a clean shutdown does not reboot.
type Watchdog struct {
	mu sync.Mutex
	w  io.WriteCloser
}

var _ board.Watchdog = (*Watchdog)(nil)

// OpenWatchdog opens (and so arms) the watchdog device.
func OpenWatchdog(path string) (*Watchdog, error) {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return nil, fmt.Errorf("pirig: watchdog: %w", err)
	}
	return &Watchdog{w: f}, nil
}

// Ping implements board.Watchdog.
func (w *Watchdog) Ping() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if _, err := w.w.Write([]byte{0}); err != nil {
		return fmt.Errorf("pirig: watchdog: ping: %w", err)
	}
	return nil
}

// Close disarms (magic close) and closes the device.
func (w *Watchdog) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	_, err := w.w.Write([]byte("V"))
	if cerr := w.w.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("pirig: watchdog: close: %w", err)
	}
	return nil
}
