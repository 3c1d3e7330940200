package ui

// PINStateForTest reports the length of the PIN held by m and whether every
// byte of its PIN array past that length is zero.
func PINStateForTest(m Model) (n int, restZero bool) {
	for _, b := range m.pin[m.pinLen:] {
		if b != 0 {
			return m.pinLen, false
		}
	}
	return m.pinLen, true
}
