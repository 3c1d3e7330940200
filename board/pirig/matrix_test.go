package pirig

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpiotest"

	"github.com/deskphone/deskphone/board"
)

// fakeMatrix is a keypad matrix without diodes wired to gpiotest pins: a
// column reads low when it is connected, through pressed keys, to a row
// driven low. Paths through several keys are followed, so it shows ghost
// keys the way real hardware does.
type fakeMatrix struct {
	rows []*gpiotest.Pin
	cols []*matrixCol

	mu      sync.Mutex
	pressed [][]bool
}

type matrixCol struct {
	gpiotest.Pin
	m *fakeMatrix
	c int
}

// Read implements gpio.PinIn from the matrix wiring.
func (p *matrixCol) Read() gpio.Level {
	if p.m.connectedLow(p.c) {
		return gpio.Low
	}
	return p.Pin.Read()
}

func newFakeMatrix(nr, nc int) *fakeMatrix {
	m := &fakeMatrix{pressed: make([][]bool, nr)}
	for r := range nr {
		m.rows = append(m.rows, &gpiotest.Pin{N: fmt.Sprintf("ROW%d", r), Num: r})
		m.pressed[r] = make([]bool, nc)
	}
	for c := range nc {
		m.cols = append(m.cols, &matrixCol{Pin: gpiotest.Pin{N: fmt.Sprintf("COL%d", c), Num: 10 + c}, m: m, c: c})
	}
	return m
}

func (m *fakeMatrix) pins() (rows, cols []gpio.PinIO) {
	for _, r := range m.rows {
		rows = append(rows, r)
	}
	for _, c := range m.cols {
		cols = append(cols, c)
	}
	return rows, cols
}

func (m *fakeMatrix) set(r, c int, down bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.pressed[r][c] = down
}

// connectedLow walks the graph of rows and columns joined by pressed keys
// from column c and reports whether it reaches a row driven low.
func (m *fakeMatrix) connectedLow(c int) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	nr, nc := len(m.rows), len(m.cols)
	seenCol := make([]bool, nc)
	seenRow := make([]bool, nr)
	queue := []int{c}
	seenCol[c] = true
	for len(queue) > 0 {
		col := queue[0]
		queue = queue[1:]
		for r := range nr {
			if seenRow[r] || !m.pressed[r][col] {
				continue
			}
			if m.rows[r].Read() == gpio.Low {
				return true
			}
			seenRow[r] = true
			for c2 := range nc {
				if !seenCol[c2] && m.pressed[r][c2] {
					seenCol[c2] = true
					queue = append(queue, c2)
				}
			}
		}
	}
	return false
}

var keymap4x4 = [][]board.Key{
	{board.Key1, board.Key2, board.Key3, board.KeyUp},
	{board.Key4, board.Key5, board.Key6, board.KeyDown},
	{board.Key7, board.Key8, board.Key9, board.KeyBack},
	{board.KeyStar, board.Key0, board.KeyHash, board.KeyOK},
}

func newTestMatrix(t testing.TB, fm *fakeMatrix) *Matrix {
	rows, cols := fm.pins()
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	m, err := NewMatrix(rows, cols, keymap4x4, MatrixOptions{
		Now:    func() time.Time { return at },
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// scanN scans n times and returns all events as strings like "5v" / "5^".
func scanN(t *testing.T, m *Matrix, n int) []string {
	t.Helper()
	var out []string
	for range n {
		evs, err := m.Scan()
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range evs {
			s := ev.Key.String() + "^"
			if ev.Down {
				s = ev.Key.String() + "v"
			}
			out = append(out, s)
		}
	}
	return out
}

func TestMatrix(t *testing.T) {
	type step struct {
		r, c  int
		down  bool
		scans int
		want  []string
	}
	for _, tt := range []struct {
		name  string
		steps []step
	}{
		{name: "single press", steps: []step{
			{1, 1, true, 2, nil},            // not yet stable
			{1, 1, true, 1, []string{"5v"}}, // third equal scan
			{1, 1, true, 5, nil},
			{1, 1, false, 3, []string{"5^"}},
		}},
		{name: "bounce is filtered", steps: []step{
			// Contact bounce across scans: never 3 equal scans in a row.
			{3, 3, true, 2, nil},
			{3, 3, false, 1, nil},
			{3, 3, true, 1, nil},
			{3, 3, false, 2, nil},
			{3, 3, true, 3, []string{"<ok>v"}},
			{3, 3, false, 1, nil},
			{3, 3, true, 1, nil},
			{3, 3, false, 3, []string{"<ok>^"}},
		}},
		{name: "two keys at once", steps: []step{
			{0, 0, true, 0, nil},
			{2, 3, true, 3, []string{"1v", "<back>v"}},
			{0, 0, false, 3, []string{"1^"}},
			{2, 3, false, 3, []string{"<back>^"}},
		}},
		{name: "two keys in one row", steps: []step{
			{1, 0, true, 0, nil},
			{1, 2, true, 3, []string{"4v", "6v"}},
		}},
		{name: "no ghost key from three presses", steps: []step{
			{0, 0, true, 0, nil},
			{0, 1, true, 3, []string{"1v", "2v"}},
			// (1,1) completes an L: (1,0) would show as a ghost. The scans
			// are ambiguous and ignored.
			{1, 1, true, 6, nil},
			{1, 1, false, 3, nil},
			{0, 0, false, 3, []string{"1^"}},
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			fm := newFakeMatrix(4, 4)
			m := newTestMatrix(t, fm)
			for i, s := range tt.steps {
				fm.set(s.r, s.c, s.down)
				got := scanN(t, m, s.scans)
				if fmt.Sprint(got) != fmt.Sprint(s.want) {
					t.Errorf("step %d: events %v, want %v", i, got, s.want)
				}
			}
			for _, r := range fm.rows {
				if r.Read() != gpio.High {
					t.Errorf("row %s left driven low", r)
				}
			}
		})
	}
}

func TestNewMatrixErrors(t *testing.T) {
	fm := newFakeMatrix(2, 2)
	rows, cols := fm.pins()
	for _, tt := range []struct {
		name   string
		keymap [][]board.Key
	}{
		{"too few rows", [][]board.Key{{board.Key1, board.Key2}}},
		{"short row", [][]board.Key{{board.Key1, board.Key2}, {board.Key3}}},
	} {
		if _, err := NewMatrix(rows, cols, tt.keymap, MatrixOptions{}); err == nil {
			t.Errorf("%s: accepted", tt.name)
		}
	}
	if _, err := NewMatrix(nil, cols, nil, MatrixOptions{}); err == nil {
		t.Error("no rows accepted")
	}
}

func TestMatrixRun(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fm := newFakeMatrix(4, 4)
		m := newTestMatrix(t, fm)
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error)
		go func() { done <- m.Run(ctx) }()
		fm.set(3, 3, true)
		ev := <-m.Events()
		if ev.Key != board.KeyOK || !ev.Down {
			t.Errorf("event %+v", ev)
		}
		fm.set(3, 3, false)
		if ev := <-m.Events(); ev.Key != board.KeyOK || ev.Down {
			t.Errorf("event %+v", ev)
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if _, ok := <-m.Events(); ok {
			t.Error("Events not closed")
		}
		if err := m.Run(t.Context()); err == nil {
			t.Error("second Run accepted")
		}
	})
}

// BenchmarkScan measures one scan pass of a 4×4 matrix over gpiotest fakes
// (the scanner's own cost; real GPIO ioctls add to it). At 100 Hz the CPU
// share is ns/op × 100 / 1e9.
func BenchmarkScan(b *testing.B) {
	fm := newFakeMatrix(4, 4)
	m := newTestMatrix(b, fm)
	fm.set(1, 1, true)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.Scan(); err != nil {
			b.Fatal(err)
		}
	}
	nsPerOp := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
	b.ReportMetric(nsPerOp*100/1e9*100, "%cpu@100Hz")
}
