// Typesets the formulas of each page with the copy of KaTeX served by this site (docs/vendor/katex),
// so the math renders without a network. pymdownx.arithmatex (generic mode) leaves each formula as
// \( ... \) in a span or \[ ... \] in a div of class "arithmatex".
document$.subscribe(({ body }) => {
  for (const element of body.querySelectorAll(".arithmatex")) {
    const source = element.textContent.trim();
    const display = source.startsWith("\\[");
    try {
      katex.render(source.slice(2, -2), element, { displayMode: display, throwOnError: true });
    } catch (error) {
      console.error(`KaTeX could not render ${source}: ${error.message}`);
    }
  }
});
