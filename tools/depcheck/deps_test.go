package depcheck

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"strings"
	"testing"
)

const mod = "github.com/deskphone/deskphone/"

// forbiddenInLogic may only be imported by board/pirig, cmd/* and tools/*.
var forbiddenInLogic = []string{
	"periph.io/x/host/v3",
	"periph.io/x/conn/v3/gpio/gpioreg",
	"periph.io/x/conn/v3/i2c/i2creg",
	"periph.io/x/conn/v3/spi/spireg",
	"periph.io/x/conn/v3/driver/driverreg",
}

// badDeps maps a package to import-path prefixes it must not depend on.
var badDeps = map[string][]string{
	mod + "cmd/phoned": {mod + "board/sim", mod + "tools/labpool", mod + "ui/termview"},
}

func goList(t *testing.T, args ...string) []string {
	t.Helper()
	cmd := exec.Command("go", append([]string{"list"}, args...)...)
	cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH=arm", "GOARM=7", "CGO_ENABLED=0")
	cmd.Dir = "../.."
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list %v: %v\n%s", args, err, stderr.String())
	}
	var lines []string
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" {
			lines = append(lines, l)
		}
	}
	return lines
}

func isLogic(pkg string) bool {
	rel, ok := strings.CutPrefix(pkg, mod)
	if !ok {
		return false
	}
	for _, allowed := range []string{"cmd/", "tools/", "board/pirig"} {
		if strings.HasPrefix(rel, allowed) {
			return false
		}
	}
	return true
}

func TestLogicPackagesAvoidHostDrivers(t *testing.T) {
	lines := goList(t, "-f", "{{.ImportPath}} {{join .Deps \" \"}}", "./...")
	checked := 0
	for _, l := range lines {
		f := strings.Fields(l)
		p, deps := f[0], f[1:]
		if !isLogic(p) {
			continue
		}
		checked++
		for _, dep := range deps {
			for _, bad := range forbiddenInLogic {
				if dep == bad || strings.HasPrefix(dep, bad+"/") {
					t.Errorf("%s imports %s (only board/pirig, cmd/ and tools/ may)", p, dep)
				}
			}
		}
	}
	if checked == 0 {
		t.Fatal("no logic packages found")
	}
}

func TestBadDeps(t *testing.T) {
	for pkg, bads := range badDeps {
		deps := goList(t, "-deps", pkg)
		if len(deps) < 2 {
			t.Fatalf("%s has no deps listed", pkg)
		}
		for _, d := range deps {
			for _, b := range bads {
				if d == b || strings.HasPrefix(d, b+"/") {
					t.Errorf("%s depends on %s", pkg, d)
				}
			}
		}
	}
}
