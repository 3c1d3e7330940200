package main

import (
	"fmt"
	"strings"

	"github.com/deskphone/deskphone/board"
)

// parseKeys reads phonesim's --keys syntax: digits, '*', '#', and the tokens
// <ok> <back> <up> <down> (case-insensitive).
func parseKeys(s string) ([]board.Key, error) {
	var out []board.Key
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c >= '0' && c <= '9', c == '*', c == '#':
			out = append(out, board.Key(c))
			i++
		case c == ' ' || c == '\t' || c == '\r' || c == '\n':
			i++
		case c == '<':
			end := strings.IndexByte(s[i:], '>')
			if end < 0 {
				return nil, fmt.Errorf("keys: unterminated token at %d", i)
			}
			tok := strings.ToLower(s[i+1 : i+end])
			switch tok {
			case "ok", "enter":
				out = append(out, board.KeyOK)
			case "back", "bs":
				out = append(out, board.KeyBack)
			case "up":
				out = append(out, board.KeyUp)
			case "down":
				out = append(out, board.KeyDown)
			default:
				return nil, fmt.Errorf("keys: unknown token <%s>", tok)
			}
			i += end + 1
		default:
			return nil, fmt.Errorf("keys: unexpected %q at %d", c, i)
		}
	}
	return out, nil
}
