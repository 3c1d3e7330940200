package ui

import (
	"fmt"

	"github.com/deskphone/deskphone/bootstrap/failure"
)

// msg identifies one screen text of the catalog.
type msg int

const (
	msgBootTitle msg = iota
	msgBootBody
	msgFirmware // %s: version
	msgNetworkTitle
	msgNetworkBody
	msgLocatingTitle
	msgLocatingBody
	msgTimeTitle
	msgTimeBody
	msgChainTitle
	msgChainBody
	msgSignInTitle
	msgUserHint
	msgPINFor // %s: user
	msgPINTooShort
	msgSigningInTitle
	msgSigningInBody
	msgRegisteredTitle
	msgExtension  // %s: extension
	msgErrorTitle // %s: code
	msgAttempt    // %d: attempt
	msgConfirmTitle
	msgConfirmCode // %s: code
	msgConfirmHint
	keyDelete
	keyNext
	keyBack
	keySignIn
	keyRetry
	keyCancel
	keyOK
	actSignIn
	actProvision
	actRootAdd
	actRootRemove
	actConfigSet
	actReset
	actReboot
	numMsgs
)

// Confirm actions with a catalog text. Other Action strings are shown as
// given.
const (
	ActionSignIn     = "signin"       // sign in with credentials sent over the tether
	ActionProvision  = "provision"    // provision a user over the tether
	ActionRootAdd    = "roots-add"    // add a trusted root CA
	ActionRootRemove = "roots-remove" // remove a trusted root CA
	ActionConfigSet  = "config-set"   // change a setting
	ActionReset      = "reset"        // factory reset
	ActionReboot     = "reboot"       // restart the phone
)

var actionMsgs = map[string]msg{
	ActionSignIn:     actSignIn,
	ActionProvision:  actProvision,
	ActionRootAdd:    actRootAdd,
	ActionRootRemove: actRootRemove,
	ActionConfigSet:  actConfigSet,
	ActionReset:      actReset,
	ActionReboot:     actReboot,
}

// Texts are kept short for the 128×64 LCD: 18 columns, titles up to 15
// runes, softkey labels up to 11. catalog_test.go checks the limits.
var texts = map[Lang]*[numMsgs]string{
	EN: {
		msgBootTitle:       "deskphone",
		msgBootBody:        "Starting…",
		msgFirmware:        "Firmware %s",
		msgNetworkTitle:    "Network",
		msgNetworkBody:     "Waiting for the network",
		msgLocatingTitle:   "Locating server",
		msgLocatingBody:    "Finding the certificate server",
		msgTimeTitle:       "Clock",
		msgTimeBody:        "Setting the time",
		msgChainTitle:      "Certificates",
		msgChainBody:       "Downloading certificate chain",
		msgSignInTitle:     "Sign in",
		msgUserHint:        "Phone number or extension",
		msgPINFor:          "PIN for %s",
		msgPINTooShort:     "At least 4 digits",
		msgSigningInTitle:  "Sign in",
		msgSigningInBody:   "Signing in…",
		msgRegisteredTitle: "Signed in",
		msgExtension:       "Ext. %s",
		msgErrorTitle:      "Error %s",
		msgAttempt:         "Attempt %d",
		msgConfirmTitle:    "Confirm",
		msgConfirmCode:     "Code %s",
		msgConfirmHint:     "Same as on the PC?",
		keyDelete:          "Delete",
		keyNext:            "Next",
		keyBack:            "Back",
		keySignIn:          "Sign in",
		keyRetry:           "Retry",
		keyCancel:          "Cancel",
		keyOK:              "OK",
		actSignIn:          "Sign in via tether",
		actProvision:       "Provision a user",
		actRootAdd:         "Add a root CA",
		actRootRemove:      "Remove a root CA",
		actConfigSet:       "Change a setting",
		actReset:           "Factory reset",
		actReboot:          "Restart the phone",
	},
	FR: {
		msgBootTitle:       "deskphone",
		msgBootBody:        "Démarrage…",
		msgFirmware:        "Version %s",
		msgNetworkTitle:    "Réseau",
		msgNetworkBody:     "Attente du réseau",
		msgLocatingTitle:   "Recherche",
		msgLocatingBody:    "Recherche des services web",
		msgTimeTitle:       "Horloge",
		msgTimeBody:        "Réglage de l'heure",
		msgChainTitle:      "Certificats",
		msgChainBody:       "Téléchargement des certificats",
		msgSignInTitle:     "Connexion",
		msgUserHint:        "Numéro de téléphone ou poste",
		msgPINFor:          "PIN pour %s",
		msgPINTooShort:     "Au moins 4 chiffres",
		msgSigningInTitle:  "Connexion",
		msgSigningInBody:   "Connexion en cours…",
		msgRegisteredTitle: "Connecté",
		msgExtension:       "Poste %s",
		msgErrorTitle:      "Erreur %s",
		msgAttempt:         "Tentative %d",
		msgConfirmTitle:    "Confirmation",
		msgConfirmCode:     "Code %s",
		msgConfirmHint:     "Identique au PC\u00a0?",
		keyDelete:          "Effacer",
		keyNext:            "Suivant",
		keyBack:            "Retour",
		keySignIn:          "Valider",
		keyRetry:           "Réessayer",
		keyCancel:          "Annuler",
		keyOK:              "OK",
		actSignIn:          "Connexion via USB",
		actProvision:       "Configurer compte",
		actRootAdd:         "Ajouter CA racine",
		actRootRemove:      "Retirer CA racine",
		actConfigSet:       "Changer un réglage",
		actReset:           "Réinitialisation",
		actReboot:          "Redémarrer",
	},
	DE: {
		msgBootTitle:       "deskphone",
		msgBootBody:        "Wird gestartet…",
		msgFirmware:        "Firmware %s",
		msgNetworkTitle:    "Netzwerk",
		msgNetworkBody:     "Warte auf Netzwerk",
		msgLocatingTitle:   "Serversuche",
		msgLocatingBody:    "Suche nach dem Zertifikatsdienst",
		msgTimeTitle:       "Uhrzeit",
		msgTimeBody:        "Uhrzeit wird gestellt",
		msgChainTitle:      "Zertifikate",
		msgChainBody:       "Zertifikatskette wird geladen",
		msgSignInTitle:     "Anmelden",
		msgUserHint:        "Rufnummer oder Durchwahl",
		msgPINFor:          "PIN für %s",
		msgPINTooShort:     "Mindestens 4 Ziffern",
		msgSigningInTitle:  "Anmeldung",
		msgSigningInBody:   "Anmeldung läuft…",
		msgRegisteredTitle: "Angemeldet",
		msgExtension:       "Durchwahl %s",
		msgErrorTitle:      "Fehler %s",
		msgAttempt:         "Versuch %d",
		msgConfirmTitle:    "Bestätigung",
		msgConfirmCode:     "Code %s",
		msgConfirmHint:     "Gleich wie am PC?",
		keyDelete:          "Löschen",
		keyNext:            "Weiter",
		keyBack:            "Zurück",
		keySignIn:          "Anmelden",
		keyRetry:           "Wiederholen",
		keyCancel:          "Abbruch",
		keyOK:              "OK",
		actSignIn:          "Anmeldung über USB",
		actProvision:       "Benutzer anlegen",
		actRootAdd:         "Stamm-CA ergänzen",
		actRootRemove:      "Stamm-CA entfernen",
		actConfigSet:       "Einstellung ändern",
		actReset:           "Werksreset",
		actReboot:          "Telefon neustarten",
	},
}

// text returns the catalog text id in lang, formatted with args if any.
func text(lang Lang, id msg, args ...any) string {
	t, ok := texts[lang]
	if !ok {
		t = texts[EN]
	}
	s := t[id]
	if len(args) > 0 {
		s = fmt.Sprintf(s, args...)
	}
	return s
}

// codeText holds, for every failure.Code, a short cause and a fix per
// language. Causes follow the Lync Phone Edition wording where one exists
// (platform-notes.md §4.5). Each wraps to at most 3 lines of 18 columns.
var codeText = map[failure.Code]map[Lang][2]string{
	failure.NetworkDown: {
		EN: {"No network connection", "Check the Ethernet cable and DHCP"},
		FR: {"Pas de connexion réseau", "Vérifiez le câble Ethernet et le DHCP"},
		DE: {"Keine Netzwerkverbindung", "Ethernet-Kabel und DHCP prüfen"},
	},
	failure.DHCPNoAnswer: {
		EN: {"No answer from the DHCP server", "Check DHCP options 43 and 120"},
		FR: {"Pas de réponse du serveur DHCP", "Vérifiez les options DHCP 43 et 120"},
		DE: {"Keine Antwort vom DHCP-Server", "DHCP-Optionen 43 und 120 prüfen"},
	},
	failure.CertServiceNotFound: {
		EN: {"Unable to locate the certificate web service", "Check DHCP option 43 or DNS, then restart"},
		FR: {"Service web de certificats introuvable", "Vérifiez l'option 43 ou le DNS, puis redémarrez"},
		DE: {"Webdienst für Zertifikate nicht gefunden", "Option 43 oder DNS prüfen, dann neu starten"},
	},
	failure.Opt43Truncated: {
		EN: {"DHCP option 43 is cut short", "Use a shorter web services URL"},
		FR: {"Option DHCP 43 tronquée", "Raccourcissez l'URL des services web"},
		DE: {"DHCP-Option 43 abgeschnitten", "Kürzere Webdienst-URL verwenden"},
	},
	failure.Opt120Invalid: {
		EN: {"DHCP option 120 is invalid", "Put the pool FQDN in option 120"},
		FR: {"Option DHCP 120 non valide", "Mettez le FQDN du pool en option 120"},
		DE: {"DHCP-Option 120 ungültig", "Pool-FQDN in Option 120 eintragen"},
	},
	failure.RegistrarNotFound: {
		EN: {"No Registrar found", "Check DHCP option 120 or DNS SRV"},
		FR: {"Aucun Registrar trouvé", "Vérifiez l'option 120 ou le SRV DNS"},
		DE: {"Kein Registrar gefunden", "DHCP-Option 120 oder DNS-SRV prüfen"},
	},
	failure.UntrustedDomain: {
		EN: {"Server is outside the SIP domain", "Put SRV and A records in the SIP domain"},
		FR: {"Serveur hors du domaine SIP", "Placez SRV et A dans le domaine SIP"},
		DE: {"Server außerhalb der SIP-Domäne", "SRV und A in der SIP-Domäne anlegen"},
	},
	failure.DNSFailed: {
		EN: {"DNS lookup failed", "Check the DNS server settings"},
		FR: {"Échec de la résolution DNS", "Vérifiez les serveurs DNS"},
		DE: {"DNS-Abfrage fehlgeschlagen", "DNS-Server prüfen"},
	},
	failure.TimeNotSet: {
		EN: {"Time not set", "Check the NTP server (DHCP option 42)"},
		FR: {"Heure non réglée", "Vérifiez le serveur NTP (option DHCP 42)"},
		DE: {"Uhrzeit nicht gesetzt", "NTP-Server prüfen (DHCP-Option 42)"},
	},
	failure.NTPBadAnswer: {
		EN: {"Time server sent a bad answer", "Check that the NTP server is synced"},
		FR: {"Réponse du serveur de temps invalide", "Vérifiez la synchro du serveur NTP"},
		DE: {"Ungültige Antwort vom Zeitserver", "Synchronisation des NTP-Servers prüfen"},
	},
	failure.ChainDownload: {
		EN: {"Error downloading certificate chain", "Try again, or check the web services"},
		FR: {"Chaîne de certificats non téléchargée", "Réessayez ou vérifiez les services web"},
		DE: {"Fehler beim Laden der Zertifikatskette", "Erneut versuchen oder Webdienste prüfen"},
	},
	failure.ChainUntrusted: {
		EN: {"Cannot verify the web services certificate", "Add the pool's root CA or update firmware"},
		FR: {"Certificat des services web non vérifiable", "Ajoutez la CA racine ou mettez à jour"},
		DE: {"Zertifikat der Webdienste nicht prüfbar", "Stamm-CA ergänzen oder Firmware aktualisieren"},
	},
	failure.TicketUnavailable: {
		EN: {"Web ticket service not responding", "Try again later; check web services"},
		FR: {"Le service de ticket web ne répond pas", "Réessayez plus tard"},
		DE: {"Webticket-Dienst antwortet nicht", "Später erneut versuchen"},
	},
	failure.PINInvalid: {
		EN: {"Wrong extension or PIN", "Check both and sign in again"},
		FR: {"Poste ou code PIN incorrect", "Vérifiez-les et reconnectez-vous"},
		DE: {"Durchwahl oder PIN falsch", "Beides prüfen und erneut anmelden"},
	},
	failure.PINLocked: {
		EN: {"Account locked — contact your administrator", "Wait 1 hour or ask IT to unlock it"},
		FR: {"Compte verrouillé — contactez votre administrateur", "Attendez 1 h ou faites-le débloquer"},
		DE: {"Konto gesperrt — Administrator kontaktieren", "1 Stunde warten oder entsperren lassen"},
	},
	failure.CredentialsNeeded: {
		EN: {"Please sign in again", "Enter your extension and PIN"},
		FR: {"Veuillez vous reconnecter", "Saisissez votre poste et PIN"},
		DE: {"Bitte erneut anmelden", "Durchwahl und PIN eingeben"},
	},
	failure.CertPublishFailed: {
		EN: {"Certificate not published: data store unavailable", "Restart the phone later; call IT"},
		FR: {"Certificat non publié, stockage indisponible", "Redémarrez plus tard, sinon le support"},
		DE: {"Datenspeicher nicht verfügbar", "Später neu starten, sonst Support"},
	},
	failure.CertRejected: {
		EN: {"Certificate rejected", "Sign in again to get a new one"},
		FR: {"Certificat refusé", "Reconnectez-vous pour en obtenir un"},
		DE: {"Zertifikat abgelehnt", "Erneut anmelden für ein neues"},
	},
	failure.CertServiceError: {
		EN: {"Certificate service error", "Try again later; check web services"},
		FR: {"Erreur du service de certificats", "Réessayez plus tard"},
		DE: {"Fehler im Zertifikatsdienst", "Später erneut versuchen"},
	},
	failure.StorageFailed: {
		EN: {"Could not save to flash memory", "Restart; replace the phone if it repeats"},
		FR: {"Écriture en mémoire impossible", "Redémarrez, sinon appelez le support"},
		DE: {"Speichern im Flash fehlgeschlagen", "Neu starten, sonst Support anrufen"},
	},
	failure.RegistrarUnreachable: {
		EN: {"Unable to contact Registrar for authentication", "Check the network, then sign in again"},
		FR: {"Registrar injoignable pour l'authentification", "Vérifiez le réseau et réessayez"},
		DE: {"Registrar für Authentifizierung nicht erreichbar", "Netzwerk prüfen, erneut anmelden"},
	},
	failure.HandshakeFailed: {
		EN: {"Final handshake failed", "Sign in again; call IT if it repeats"},
		FR: {"Échec de la négociation finale", "Reconnectez-vous, sinon le support"},
		DE: {"Abschließender Handshake fehlgeschlagen", "Erneut anmelden, sonst Support anrufen"},
	},
	failure.AuthRejected: {
		EN: {"Registrar refused authentication", "Sign in again to get a new certificate"},
		FR: {"Authentification refusée par le Registrar", "Reconnectez-vous pour un nouveau certificat"},
		DE: {"Registrar lehnt Anmeldung ab", "Erneut anmelden für neues Zertifikat"},
	},
	failure.BadSignature: {
		EN: {"Server signature did not verify", "Possible attack; call IT"},
		FR: {"Signature du serveur non valide", "Attaque possible, contactez le support"},
		DE: {"Serversignatur ungültig", "Möglicher Angriff, Support anrufen"},
	},
	failure.RedirectLoop: {
		EN: {"Too many server redirects", "Check the pool topology"},
		FR: {"Trop de redirections du serveur", "Vérifiez la topologie du pool"},
		DE: {"Zu viele Weiterleitungen", "Pool-Topologie prüfen"},
	},
	failure.RegistrarBusy: {
		EN: {"All Registrars are busy", "The phone retries; please wait"},
		FR: {"Tous les Registrars sont occupés", "Nouvel essai automatique, patientez"},
		DE: {"Alle Registrars ausgelastet", "Bitte warten, neuer Versuch folgt"},
	},
	failure.ProvisioningFailed: {
		EN: {"Provisioning data unusable", "Check the pool configuration"},
		FR: {"Configuration du pool inutilisable", "Vérifiez la configuration du pool"},
		DE: {"Provisionierung fehlgeschlagen", "Pool-Konfiguration prüfen"},
	},
	failure.NotImplemented: {
		EN: {"Not supported by this firmware", "Update the phone firmware"},
		FR: {"Non pris en charge par ce firmware", "Mettez à jour le firmware"},
		DE: {"Von dieser Firmware nicht unterstützt", "Firmware aktualisieren"},
	},
	failure.Internal: {
		EN: {"Unexpected internal error", "Restart the phone; call IT if it repeats"},
		FR: {"Erreur interne inattendue", "Redémarrez, sinon appelez le support"},
		DE: {"Unerwarteter interner Fehler", "Neu starten, sonst Support anrufen"},
	},
}

// Message returns the short cause and fix of code in lang, for the LCD,
// diag --json and the tether. An unsupported lang falls back to English and
// an unknown code to failure.Internal's text.
func Message(lang Lang, code failure.Code) (cause, fix string) {
	byLang, ok := codeText[code]
	if !ok {
		byLang = codeText[failure.Internal]
	}
	e, ok := byLang[lang]
	if !ok {
		e = byLang[EN]
	}
	return e[0], e[1]
}
