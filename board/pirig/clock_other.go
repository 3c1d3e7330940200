//go:build !linux

package pirig

import (
	"errors"
	"time"
)

func setSystemTime(time.Time) error { return errors.New("pirig: clock: set only on linux") }
