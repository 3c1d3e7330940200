// Package sim is the simulated phone board: in-memory fakes of every
// board seam, for unit tests and the laptop demo (phonesim).
//
// The fakes are a pixel LCD that records frames (LCD), a 20×4 character LCD
// (TextLCD), a keypad fed by Press (Keypad), a NOR/NAND flash that can lose
// power mid-write (Flash), a clock with a settable offset (Clock), LEDs and a
// watchdog that keep their state readable, and a tether that is one end of a
// net.Pipe. New bundles them into a board.Board.
//
// sim never imports periph host drivers or the global registries.
package sim
