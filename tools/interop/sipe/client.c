/*
 * client.c: a headless libpurple client that signs one pidgin-sipe account
 * in and reports the outcome. Our own code, written against libpurple's
 * public API (libpurple-dev); nothing here comes from pidgin-sipe.
 *
 * Build: gcc -rdynamic -o sipe-client client.c $(pkg-config --cflags --libs purple glib-2.0 libxml-2.0)
 *
 * Usage: sipe-client --user SIPURI[,DOMAIN\login] --server HOST:PORT
 *                    [--transport tls|tcp|auto] [--auth tls-dsk|ntlm|auto]
 *                    [--timeout SECONDS] [--userdir DIR]
 *
 * The password comes from $SIPE_PASSWORD or, if that is unset, the first
 * line of stdin; it is never printed. stdout gets exactly one JSON line:
 *   {"event":"signed-on","elapsed_ms":N}
 *   {"event":"connection-error","reason":R,"description":"...","elapsed_ms":N}
 *   {"event":"timeout","elapsed_ms":N}
 * Exit status 0 on signed-on, 1 otherwise. SIPE_CLIENT_DEBUG=1 sends
 * libpurple's (and pidgin-sipe's) debug log to stderr; SIPE_CLIENT_DEBUG=unsafe
 * adds full SIP/HTTP message dumps, which can contain credentials (NTLM and
 * Basic Authorization headers): for local debugging only, never in CI.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>
#include <glib/gstdio.h>
#include <libxml/parser.h>
#include <purple.h>

#define UI_ID "deskphone-interop"

static GMainLoop *loop;
static gint64 started;
static int exit_code = 1;
static gboolean reported;

/*
 * Debian 12's libxml2 security updates (seen with 2.9.14+dfsg-1.3~deb12u5 and
 * ~deb12u6) stopped calling the SAX1 startElement/endElement callbacks of a handler
 * marked XML_SAX2_MAGIC that has no startElementNs. pidgin-sipe's XML parser
 * is such a handler, so every document it parses (web service metadata,
 * SOAP answers) comes back empty. This interposer (exported with -rdynamic,
 * so that the dlopen'ed plugin binds to it) marks such handlers as plain
 * SAX1, which libxml2 still honours, and calls the real function.
 */
int xmlSAXUserParseMemory(xmlSAXHandlerPtr sax, void *user_data, const char *buffer, int size)
{
	static int (*real)(xmlSAXHandlerPtr, void *, const char *, int);
	xmlSAXHandler copy;
	if (!real)
		real = (int (*)(xmlSAXHandlerPtr, void *, const char *, int))dlsym(RTLD_NEXT, "xmlSAXUserParseMemory");
	if (sax && sax->initialized == XML_SAX2_MAGIC && !sax->startElementNs && !sax->endElementNs &&
	    (sax->startElement || sax->endElement)) {
		copy = *sax;
		copy.initialized = 1;
		sax = &copy;
	}
	return real(sax, user_data, buffer, size);
}

/* glib-backed event loop for libpurple. */
typedef struct {
	PurpleInputFunction fn;
	gpointer data;
} io_closure;

static gboolean io_invoke(GIOChannel *src, GIOCondition cond, gpointer data)
{
	io_closure *c = data;
	int cd = 0;
	if (cond & (G_IO_IN | G_IO_HUP | G_IO_ERR))
		cd |= PURPLE_INPUT_READ;
	if (cond & (G_IO_OUT | G_IO_HUP | G_IO_ERR | G_IO_NVAL))
		cd |= PURPLE_INPUT_WRITE;
	c->fn(c->data, g_io_channel_unix_get_fd(src), cd);
	return TRUE;
}

static guint io_add(gint fd, PurpleInputCondition cond, PurpleInputFunction fn, gpointer data)
{
	io_closure *c = g_new0(io_closure, 1);
	GIOCondition gc = 0;
	GIOChannel *ch;
	guint id;
	c->fn = fn;
	c->data = data;
	if (cond & PURPLE_INPUT_READ)
		gc |= G_IO_IN | G_IO_HUP | G_IO_ERR;
	if (cond & PURPLE_INPUT_WRITE)
		gc |= G_IO_OUT | G_IO_HUP | G_IO_ERR | G_IO_NVAL;
	ch = g_io_channel_unix_new(fd);
	id = g_io_add_watch_full(ch, G_PRIORITY_DEFAULT, gc, io_invoke, c, g_free);
	g_io_channel_unref(ch);
	return id;
}

static PurpleEventLoopUiOps loop_ops = {
	g_timeout_add, g_source_remove, io_add, g_source_remove, NULL,
	g_timeout_add_seconds, NULL, NULL, NULL,
};

static void json_string(const char *s)
{
	putchar('"');
	for (; s && *s; s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch == '"' || ch == '\\')
			printf("\\%c", ch);
		else if (ch < 0x20)
			printf("\\u%04x", ch);
		else
			putchar(ch);
	}
	putchar('"');
}

static double elapsed_ms(void)
{
	return (g_get_monotonic_time() - started) / 1000.0;
}

static void report(const char *event, int reason, const char *desc, int code)
{
	if (reported)
		return;
	reported = TRUE;
	printf("{\"event\":\"%s\"", event);
	if (desc) {
		printf(",\"reason\":%d,\"description\":", reason);
		json_string(desc);
	}
	printf(",\"elapsed_ms\":%.1f}\n", elapsed_ms());
	fflush(stdout);
	exit_code = code;
	g_main_loop_quit(loop);
}

static void signed_on(PurpleConnection *gc, gpointer data)
{
	report("signed-on", 0, NULL, 0);
}

static void connection_error(PurpleConnection *gc, PurpleConnectionError err, const gchar *desc, gpointer data)
{
	report("connection-error", err, desc ? desc : "", 1);
}

static gboolean timed_out(gpointer data)
{
	report("timeout", 0, NULL, 1);
	return FALSE;
}

static void to_stderr(const gchar *s)
{
	fputs(s, stderr);
}

/* remove_tree deletes the temporary user directory libpurple filled. */
static void remove_tree(const char *path)
{
	GDir *dir = g_dir_open(path, 0, NULL);
	const char *name;
	if (dir) {
		while ((name = g_dir_read_name(dir))) {
			gchar *child = g_build_filename(path, name, NULL);
			if (g_file_test(child, G_FILE_TEST_IS_DIR) && !g_file_test(child, G_FILE_TEST_IS_SYMLINK))
				remove_tree(child);
			else
				g_unlink(child);
			g_free(child);
		}
		g_dir_close(dir);
	}
	g_rmdir(path);
}

static char *read_password(void)
{
	const char *env = g_getenv("SIPE_PASSWORD");
	char buf[512];
	if (env)
		return g_strdup(env);
	if (!fgets(buf, sizeof buf, stdin))
		return NULL;
	buf[strcspn(buf, "\r\n")] = '\0';
	return g_strdup(buf);
}

int main(int argc, char **argv)
{
	static struct option opts[] = {
		{"user", required_argument, NULL, 'u'}, {"server", required_argument, NULL, 's'},
		{"transport", required_argument, NULL, 't'}, {"auth", required_argument, NULL, 'a'},
		{"timeout", required_argument, NULL, 'T'}, {"userdir", required_argument, NULL, 'd'},
		{NULL, 0, NULL, 0},
	};
	const char *user = NULL, *server = NULL, *transport = "tls", *auth = "tls-dsk", *userdir = NULL;
	int timeout = 60, o, handle;
	char *password, *tmp = NULL;
	PurplePlugin *prpl;
	PurpleAccount *acct;

	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 'u': user = optarg; break;
		case 's': server = optarg; break;
		case 't': transport = optarg; break;
		case 'a': auth = optarg; break;
		case 'T': timeout = atoi(optarg); break;
		case 'd': userdir = optarg; break;
		default: return 2;
		}
	}
	if (!user || !server || timeout <= 0) {
		fprintf(stderr, "usage: %s --user SIPURI[,DOMAIN\\login] --server HOST:PORT [--transport tls] "
			"[--auth tls-dsk|ntlm] [--timeout S] [--userdir DIR] (password: $SIPE_PASSWORD or stdin)\n", argv[0]);
		return 2;
	}
	if (!(password = read_password())) {
		fprintf(stderr, "sipe-client: no password on $SIPE_PASSWORD or stdin\n");
		return 2;
	}

	g_set_print_handler(to_stderr); /* keep stdout for the one JSON line */
	if (!userdir && !(userdir = tmp = g_dir_make_tmp("sipe-client-XXXXXX", NULL))) {
		fprintf(stderr, "sipe-client: temporary directory: %s\n", g_strerror(errno));
		return 2;
	}
	purple_util_set_user_dir(userdir);
	if (g_getenv("SIPE_CLIENT_DEBUG")) {
		purple_debug_set_enabled(TRUE);
		purple_debug_set_verbose(TRUE);
		/* Full message dumps (they may show credentials: local use only). */
		purple_debug_set_unsafe(g_strcmp0(g_getenv("SIPE_CLIENT_DEBUG"), "unsafe") == 0);
	}
	purple_eventloop_set_ui_ops(&loop_ops);
	if (!purple_core_init(UI_ID)) {
		fprintf(stderr, "sipe-client: libpurple initialization failed\n");
		return 2;
	}
	purple_set_blist(purple_blist_new());
	if (!(prpl = purple_find_prpl("prpl-sipe"))) {
		fprintf(stderr, "sipe-client: prpl-sipe not found (install pidgin-sipe)\n");
		return 2;
	}

	loop = g_main_loop_new(NULL, FALSE);
	purple_signal_connect(purple_connections_get_handle(), "signed-on", &handle, PURPLE_CALLBACK(signed_on), NULL);
	purple_signal_connect(purple_connections_get_handle(), "connection-error", &handle,
		PURPLE_CALLBACK(connection_error), NULL);

	acct = purple_account_new(user, "prpl-sipe");
	purple_account_set_password(acct, password);
	memset(password, 0, strlen(password));
	g_free(password);
	purple_account_set_string(acct, "server", server);
	purple_account_set_string(acct, "transport", transport);
	purple_account_set_string(acct, "authentication", auth);
	purple_account_set_remember_password(acct, FALSE);
	purple_accounts_add(acct);

	g_timeout_add_seconds(timeout, timed_out, NULL);
	started = g_get_monotonic_time();
	purple_account_set_enabled(acct, UI_ID, TRUE);
	g_main_loop_run(loop);

	purple_account_set_enabled(acct, UI_ID, FALSE);
	purple_core_quit();
	if (tmp) {
		remove_tree(tmp);
		g_free(tmp);
	}
	return exit_code;
}
