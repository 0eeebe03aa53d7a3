"""Attack: smuggle markup into the instructor's HTML reports (feedback.html, the class index.html).

Prints a script and raises an exception whose message is an image tag with an onerror handler.
Both must appear escaped (as text), never as markup.
"""

SCRIPT = '<script>document.title="pwned-by-html_injection"</script>'
IMAGE = '<img src=x onerror="document.title=\'pwned-by-html_injection\'">'


def double(x):
    print(SCRIPT, flush=True)
    raise Exception(IMAGE + "</pre></td></tr></table>" + SCRIPT)


def honest_double(x):
    return 2 * x
