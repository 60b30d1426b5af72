"""Reading the web app's pages as a browser would: their forms, inputs and buttons."""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser


@dataclass
class Form:
    method: str
    action: str | None
    inputs: list[dict] = field(default_factory=list)
    buttons: list[dict] = field(default_factory=list)

    def hidden(self) -> dict[str, str]:
        return {i["name"]: i.get("value", "") for i in self.inputs if i.get("type") == "hidden"}

    def boxes(self, name: str) -> list[str]:
        return [i["value"] for i in self.inputs if i.get("type") == "checkbox" and i.get("name") == name]

    def ticked(self, name: str) -> list[str]:
        return [i["value"] for i in self.inputs
                if i.get("type") == "checkbox" and i.get("name") == name and "checked" in i]

    def value(self, name: str) -> str:
        return next(i.get("value", "") for i in self.inputs if i.get("name") == name)

    def submission(self, button: str | None = None, **changes) -> dict:
        """What the browser would post: hidden fields, ticked boxes, text, the button; then `changes`."""
        data: dict[str, list[str] | str] = dict(self.hidden())
        for i in self.inputs:
            if i.get("type") == "checkbox" and "checked" in i:
                data.setdefault(i["name"], []).append(i["value"])  # type: ignore[union-attr]
            elif i.get("type") == "text":
                data[i["name"]] = i.get("value", "")
        if button is not None:
            chosen = next(b for b in self.buttons if b.get("value") == button)
            data[chosen["name"]] = chosen["value"]
        data.update(changes)
        return data


class _Parser(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.forms: list[Form] = []
        self.open = False

    def handle_starttag(self, tag, attrs):
        attributes = {name: (value if value is not None else "") for name, value in attrs}
        if tag == "form":
            self.forms.append(Form(attributes.get("method", "get").lower(), attributes.get("action")))
            self.open = True
        elif tag == "input" and self.open:
            self.forms[-1].inputs.append(attributes)
        elif tag == "button" and self.open:
            self.forms[-1].buttons.append(attributes)

    def handle_endtag(self, tag):
        if tag == "form":
            self.open = False


def forms(html: str) -> list[Form]:
    parser = _Parser()
    parser.feed(html)
    return parser.forms
