package pirig

import (
	"fmt"
	"time"

	"golang.org/x/sys/unix"
)

// setSystemTime sets the wall clock (needs CAP_SYS_TIME).
func setSystemTime(t time.Time) error {
	tv := unix.NsecToTimeval(t.UnixNano())
	if err := unix.Settimeofday(&tv); err != nil {
		return fmt.Errorf("pirig: clock: settimeofday(%v): %w", t, err)
	}
	return nil
}
