// Package depcheck holds the test that enforces deskphone's import rules
// (style.md §A2): logic packages never import periph host drivers or the
// global registries; only board/pirig, cmd/* and tools/* may. The firmware
// binary cmd/phoned never imports the simulator (board/sim), the terminal
// views, or the lab pool.
package depcheck
