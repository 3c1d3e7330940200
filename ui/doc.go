// Package ui holds the phone's screens as a pure model, the message catalog
// (en, fr, de) and the logical Frame that the renderers draw.
//
// The model has no goroutines, no I/O and no clock: the agent feeds it Events
// (including Tick for the time) and runs the Cmds it returns:
//
//	m := ui.New(ui.EN, version)
//	m, cmd := m.Update(ui.Key{Key: board.KeyOK})
//	frame := m.View()
//
// Renderers live in sub-packages: pixel (128×64 monochrome LCD and PNG
// snapshots), text (20×4 character LCD) and termview (terminal drawing for
// phonesim). LCD text comes from this catalog, never from err.Error().
//
// PIN handling: the PIN typed on the keypad is kept in a fixed-size array,
// zeroed as soon as it is submitted or the PIN screen is left; View never
// shows it (only one bullet per digit), and the PIN type redacts itself in
// logs and fmt output. Go strings cannot be wiped, so this is best effort:
// the SubmitCredentials command necessarily carries a copy.
package ui
