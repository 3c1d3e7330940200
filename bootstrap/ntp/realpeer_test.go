//go:build linux

package ntp

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/deskphone/deskphone/bootstrap/failure"
	"github.com/deskphone/deskphone/tools/rig/netns"
)

// TestRealChrony: chronyd serves time in one namespace (never touching the
// host clock: -x), our Syncer in the other sets a fake clock
// (platform-notes.md §5.2b). Needs root.
func TestRealChrony(t *testing.T) {
	bins := netns.Require(t, "chronyd")
	p := netns.New(t)
	dir := t.TempDir()
	conf := "local stratum 8\nallow all\nport 123\ncmdport 0\nbindaddress " + netns.ServerIP.String() + "\n" +
		"driftfile " + filepath.Join(dir, "drift") + "\npidfile " + filepath.Join(dir, "chronyd.pid") + "\n"
	cf := filepath.Join(dir, "chrony.conf")
	if err := os.WriteFile(cf, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	c := netns.Start(t, p.Server, bins[0], "-d", "-x", "-u", "root", "-f", cf)
	if err := c.WaitFor("chronyd version", 10*time.Second); err != nil {
		t.Fatal(err)
	}

	clk := &fakeClock{Off: -time.Hour}
	var res Result
	var took time.Duration
	deadline := time.Now().Add(15 * time.Second)
	for {
		err := netns.Do(p.Client, func() error {
			start := time.Now()
			var err error
			res, err = NewSyncer(Config{Servers: []string{netns.ServerIP.String()}, Fallback: NoFallback, QueryTimeout: time.Second},
				clk, nil, testLogger(t)).Sync(context.Background())
			took = time.Since(start)
			return err
		})
		if err == nil {
			break
		}
		// chronyd logs its banner before binding port 123 (refused), and
		// answers stratum 16 until its local reference is selected.
		if c := failure.CodeOf(err); (c != failure.NTPBadAnswer && c != failure.TimeNotSet) || time.Now().After(deadline) {
			t.Fatalf("sync with chrony: %v", err)
		}
		time.Sleep(50 * time.Millisecond) // waiting for an external daemon to come up, with a deadline
	}
	t.Logf("ntp sync (3 samples) over veth: %v; %+v", took, res)
	if res.Stratum != 8 || !res.ClockSet || res.Server != "192.0.2.1:123" {
		t.Errorf("res = %+v", res)
	}
	if math.Abs(res.OffsetMS-3600e3) > 1000 {
		t.Errorf("offset %v ms, want ≈ +3600000", res.OffsetMS)
	}
	if d := clk.Off; d < -time.Second || d > time.Second {
		t.Errorf("fake clock still off by %v", d)
	}
}
