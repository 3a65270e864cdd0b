/*
 * echo - UART receive path.
 *
 * Prints "echo: ready\n", then echoes every received byte back unchanged
 * (a '\r' is echoed as "\r\n", so an interactive terminal in raw mode shows
 * a new line). A line consisting of "quit" (terminated by '\n' or '\r'), or
 * a 0x04 byte (Ctrl-D) anywhere, ends the program: it prints "echo: bye\n"
 * and exits 0. The terminating byte itself is echoed before the goodbye
 * (0x04 is not echoed).
 *
 * Example: stdin "hello\nquit\n" gives stdout
 *     "echo: ready\nhello\nquit\necho: bye\n"
 *
 * Needs: LSR.DR (bit 0) set while a received byte is waiting in RBR, and
 * reading RBR consuming it. Input arriving before the program polls must not
 * be lost (we deliberately never reset the FIFOs through FCR for that
 * reason: QEMU may have latched the first byte already).
 */
#include "common/rt.h"

int main(void)
{
	char line[8];
	int len = 0;   /* chars of the current line kept (up to 5: "quit" + 1) */

	print("echo: ready\n");
	for (;;) {
		int c = getchar_();
		if (c == 0x04)
			break;
		if (c == '\r') {
			putchar_('\r');
			putchar_('\n');
		} else {
			putchar_(c);
		}
		if (c == '\n' || c == '\r') {
			if (len == 4 && memcmp(line, "quit", 4) == 0)
				break;
			len = 0;
		} else if (len < 5) {
			line[len++] = (char)c;
		}
	}
	print("echo: bye\n");
	return 0;
}
