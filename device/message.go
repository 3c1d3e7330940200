package device

import (
	"github.com/deskphone/deskphone/bootstrap/failure"
	"github.com/deskphone/deskphone/ui"
)

// message returns the catalog's cause and fix for code in lang (en default).
func message(lang string, code failure.Code) (cause, fix string) {
	l, err := ui.ParseLang(lang)
	if err != nil {
		l = ui.EN
	}
	return ui.Message(l, code)
}
