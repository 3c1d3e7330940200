//go:build linux

package netns

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Addresses on the veth pair.
var (
	ServerIP = net.IPv4(192, 0, 2, 1)
	ClientIP = net.IPv4(192, 0, 2, 2)
)

// Subnet is the veth subnet.
const Subnet = "192.0.2.0/24"

var seq atomic.Int32

// Pair is two namespaces joined by a veth pair.
type Pair struct {
	Server, Client     string // namespace names
	ServerIf, ClientIf string // interface names inside them
}

// Require skips t unless running as root with `ip` available, and returns
// the path of each extra tool named (skipping when one is absent).
func Require(t testing.TB, tools ...string) []string {
	t.Helper()
	if os.Getenv("DESKPHONE_EMULATED") != "" {
		t.Skip("netns: real-peer tests need native execution; this run is under qemu-user (DESKPHONE_EMULATED is set)")
	}
	if os.Geteuid() != 0 {
		t.Skip("netns: needs root (network namespaces)")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("netns: iproute2 `ip` not installed")
	}
	var paths []string
	for _, tool := range tools {
		p, err := exec.LookPath(tool)
		if err != nil {
			t.Skipf("netns: %s not installed", tool)
		}
		paths = append(paths, p)
	}
	return paths
}

// New creates the pair (skipping t when it cannot) and removes it at cleanup.
func New(t testing.TB) *Pair {
	t.Helper()
	Require(t)
	id := fmt.Sprintf("%d%d", os.Getpid()%100000, seq.Add(1))
	p := &Pair{
		Server: "dps" + id, Client: "dpc" + id,
		ServerIf: "vs" + id, ClientIf: "vc" + id,
	}
	t.Cleanup(func() {
		_ = exec.Command("ip", "netns", "del", p.Server).Run()
		_ = exec.Command("ip", "netns", "del", p.Client).Run()
	})
	mask := "/24"
	for _, args := range [][]string{
		{"netns", "add", p.Server},
		{"netns", "add", p.Client},
		{"link", "add", p.ServerIf, "netns", p.Server, "type", "veth", "peer", "name", p.ClientIf, "netns", p.Client},
		{"-n", p.Server, "addr", "add", ServerIP.String() + mask, "dev", p.ServerIf},
		{"-n", p.Client, "addr", "add", ClientIP.String() + mask, "dev", p.ClientIf},
		{"-n", p.Server, "link", "set", p.ServerIf, "up"},
		{"-n", p.Client, "link", "set", p.ClientIf, "up"},
		{"-n", p.Server, "link", "set", "lo", "up"},
		{"-n", p.Client, "link", "set", "lo", "up"},
	} {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("netns: ip %s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
	// Wait until both ends are up (carrier), so the first packet is not lost.
	deadline := time.Now().Add(5 * time.Second)
	for {
		out, _ := exec.Command("ip", "-n", p.Client, "-o", "link", "show", p.ClientIf).Output()
		if strings.Contains(string(out), "LOWER_UP") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("netns: %s never came up: %s", p.ClientIf, out)
		}
		time.Sleep(10 * time.Millisecond) // polling a kernel state with a deadline, not synchronisation between goroutines
	}
	return p
}

// Command returns `ip netns exec ns name args...`.
func Command(ctx context.Context, ns, name string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", ns, name}, args...)...)
}

// Proc is a background process started with Start.
type Proc struct {
	Cmd    *exec.Cmd
	mu     sync.Mutex
	output strings.Builder
	lines  chan string
	done   chan struct{}
}

// Output returns everything the process wrote so far (stdout+stderr).
func (p *Proc) Output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.output.String()
}

// WaitFor waits until a line containing substr appears, the process exits,
// or timeout passes.
func (p *Proc) WaitFor(substr string, timeout time.Duration) error {
	t := time.NewTimer(timeout)
	defer t.Stop()
	for {
		select {
		case l, ok := <-p.lines:
			if !ok {
				return fmt.Errorf("netns: %s exited before %q: %s", p.Cmd.Path, substr, p.Output())
			}
			if strings.Contains(l, substr) {
				return nil
			}
		case <-t.C:
			return fmt.Errorf("netns: no %q from %s within %v: %s", substr, p.Cmd.Path, timeout, p.Output())
		}
	}
}

// Stop sends SIGTERM to the process group, waits up to 5 s, then kills it;
// it returns the output.
func (p *Proc) Stop() string {
	if p.Cmd.Process != nil {
		pgid := p.Cmd.Process.Pid
		_ = syscall.Kill(-pgid, syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(5 * time.Second):
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
			<-p.done
		}
	}
	return p.Output()
}

// Start runs name inside ns (ns "" = this namespace) in the background; it
// is stopped at cleanup. Its combined output is logged on failure.
func Start(t testing.TB, ns, name string, args ...string) *Proc {
	t.Helper()
	var cmd *exec.Cmd
	if ns == "" {
		cmd = exec.Command(name, args...)
	} else {
		cmd = Command(context.Background(), ns, name, args...)
	}
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	// Own process group, so Stop reaches children too; WaitDelay stops Wait
	// from hanging on a grandchild that keeps the output pipe open.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	cmd.WaitDelay = time.Second
	p := &Proc{Cmd: cmd, lines: make(chan string, 1024), done: make(chan struct{})}
	if err := cmd.Start(); err != nil {
		t.Fatalf("netns: start %s: %v", name, err)
	}
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			p.mu.Lock()
			p.output.WriteString(sc.Text() + "\n")
			p.mu.Unlock()
			select {
			case p.lines <- sc.Text():
			default:
			}
		}
		close(p.lines)
	}()
	go func() {
		_ = cmd.Wait()
		pw.Close()
		close(p.done)
	}()
	t.Cleanup(func() {
		out := p.Stop()
		if t.Failed() {
			t.Logf("%s output:\n%s", name, out)
		}
	})
	return p
}

// Do runs f on a goroutine locked to an OS thread that has joined network
// namespace ns. Sockets f creates belong to ns, also when used later from
// other goroutines; goroutines f starts do not inherit the namespace.
func Do(ns string, f func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("netns: own namespace: %w", err)
			return
		}
		defer orig.Close()
		target, err := os.Open("/var/run/netns/" + ns)
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("netns: %s: %w", ns, err)
			return
		}
		defer target.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("netns: setns %s: %w", ns, err)
			return
		}
		ferr := f()
		if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err != nil {
			// Leave the thread locked: the runtime discards it when the
			// goroutine exits, so no other goroutine runs in ns.
			errc <- fmt.Errorf("netns: restore namespace: %w", err)
			return
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}
