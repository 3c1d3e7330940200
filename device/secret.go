package device

import (
	"log/slog"

	"github.com/deskphone/deskphone/board"
)

type slogValue = slog.Value

var redacted = slog.StringValue("REDACTED")

type boardKeyEvent = board.KeyEvent
