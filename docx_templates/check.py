"""Check a template when a structure uploads it, not on the eve of the jury.

`check_template(data)` returns the problems found, as French sentences a
coordinator can act on (empty list: the template is fine):

- the file is not a .docx (an old .doc, an .odt, a zip, anything else);
- a Jinja tag is malformed (with the part and the paragraph where it is);
- a field is unknown: every name and attribute is followed through the schema
  of `context.py`, loop variables included, so ``{{ tache.titre }}`` inside
  ``{% for tache in competence.taches %}`` is checked as a task's field;
- the template does not render with the sample dossier, or renders into a file
  Word could not open.
"""

from __future__ import annotations

import difflib
import io
from collections import ChainMap
from dataclasses import dataclass
from typing import Any, get_args, get_origin

import jinja2
from docx import Document
from docxtpl import DocxTemplate
from jinja2 import nodes

from docx_templates._jinja import explain, make_environment, template_parts, where
from docx_templates._package import docx_bytes
from docx_templates.context import DossierContext, template_type, typed_fields
from docx_templates.errors import TemplateError
from docx_templates.render import render
from docx_templates.samples import sample_context

__all__ = ["check_template"]


@dataclass(frozen=True)
class _Obj:
    label: str
    fields: dict[str, _Type]


@dataclass(frozen=True)
class _List:
    item: _Type


@dataclass(frozen=True)
class _Scalar:
    pass


@dataclass(frozen=True)
class _Any:
    pass


_Type = _Obj | _List | _Scalar | _Any
SCALAR = _Scalar()
ANY = _Any()

# How each group of fields is called in messages.
_LABELS = {
    "DossierContext": "dossier",
    "Candidat": "candidat",
    "Accompagnateur": "accompagnateur",
    "Referentiel": "référentiel",
    "Modalite": "modalité",
    "TemplatePhoto": "photo",
    "Task": "tâche",
    "TrainingModule": "module de formation",
    "Review": "avis",
    "Competence": "compétence",
    "Bloc": "bloc",
    "RemainingItem": "ce qui reste à montrer",
}


def _schema(tp: Any) -> _Type:
    tp = template_type(tp)
    if get_origin(tp) is list:
        return _List(_schema(get_args(tp)[0]))
    if isinstance(tp, type) and issubclass(tp, dict):
        fields = {name: _schema(ftp) for name, (ftp, _doc) in typed_fields(tp).items()}
        return _Obj(_LABELS.get(tp.__name__, tp.__name__), fields)
    if tp is object:
        return ANY
    return SCALAR


def _root() -> _Obj:
    root = _schema(DossierContext)
    assert isinstance(root, _Obj)
    return root


ROOT = _root()

# Names Jinja itself provides (jinja2.defaults.DEFAULT_NAMESPACE).
_GLOBALS = frozenset({"range", "dict", "lipsum", "cycler", "joiner", "namespace"})
_KEEPS_TYPE = frozenset(
    {
        "sort",
        "reverse",
        "unique",
        "list",
        "default",
        "d",
        "selectattr",
        "rejectattr",
        "select",
        "reject",
    }
)
_ONE_ITEM = frozenset({"first", "last", "random", "min", "max"})
_FORBIDDEN_TAGS = (nodes.Include, nodes.Import, nodes.FromImport, nodes.Extends)


def _expr_text(node: nodes.Node) -> str:
    if isinstance(node, nodes.Name):
        return node.name
    if isinstance(node, nodes.Getattr):
        return f"{_expr_text(node.node)}.{node.attr}"
    if isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const):
        return f"{_expr_text(node.node)}[{node.arg.value!r}]"
    if isinstance(node, nodes.Filter) and node.node is not None:
        return f"{_expr_text(node.node)}|{node.name}"
    return "…"


def _suggest(name: str, choices: Any) -> str:
    close = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.6)
    return f" (vouliez-vous dire « {close[0]} » ?)" if close else ""


class _Checker:
    """Follows every name through the schema; scopes like Jinja's (loops are local)."""

    def __init__(self, part: str, source: str) -> None:
        self.part = part
        self.source = source
        self.problems: list[str] = []

    def report(self, node: nodes.Node, text: str) -> None:
        line = where(self.part, self.source, getattr(node, "lineno", None))
        message = f"{text[0].upper()}{text[1:]} ({line})."
        if message not in self.problems:
            self.problems.append(message)

    # statements -------------------------------------------------------------
    def body(self, items: list[nodes.Node], scope: ChainMap[str, _Type]) -> None:
        for item in items:
            self.stmt(item, scope)

    def stmt(self, node: nodes.Node, scope: ChainMap[str, _Type]) -> None:
        if isinstance(node, nodes.Output):
            for child in node.nodes:
                if not isinstance(child, nodes.TemplateData):
                    self.expr(child, scope)
        elif isinstance(node, nodes.For):
            iterated = self.expr(node.iter, scope)
            inner = scope.new_child({"loop": ANY})
            item = iterated.item if isinstance(iterated, _List) else ANY
            self.bind(node.target, item, inner)
            if node.test is not None:
                self.expr(node.test, inner)
            self.body(node.body, inner)
            self.body(node.else_, scope)
        elif isinstance(node, nodes.If):
            self.expr(node.test, scope)
            self.body(node.body, scope)
            for branch in node.elif_:
                self.stmt(branch, scope)
            self.body(node.else_, scope)
        elif isinstance(node, nodes.Assign):
            self.bind(node.target, self.expr(node.node, scope), scope)
        elif isinstance(node, nodes.AssignBlock):
            self.body(node.body, scope)
            self.bind(node.target, SCALAR, scope)
        elif isinstance(node, nodes.Macro | nodes.CallBlock):
            if isinstance(node, nodes.CallBlock):
                self.expr(node.call, scope)
            else:
                scope[node.name] = ANY
            for default in node.defaults:
                self.expr(default, scope)
            names = {a.name: ANY for a in node.args}
            inner = scope.new_child({**names, "caller": ANY, "varargs": ANY, "kwargs": ANY})
            self.body(node.body, inner)
        elif isinstance(node, nodes.With):
            inner = scope.new_child()
            for target, value in zip(node.targets, node.values, strict=False):
                self.bind(target, self.expr(value, scope), inner)
            self.body(node.body, inner)
        elif isinstance(node, _FORBIDDEN_TAGS):
            self.report(
                node,
                "include, import et extends ne sont pas permis : "
                "un modèle tient en un seul document Word",
            )
        else:
            for sub in node.iter_child_nodes():
                if isinstance(sub, nodes.Expr):
                    self.expr(sub, scope)
                else:
                    self.stmt(sub, scope)

    def bind(self, target: nodes.Node, tp: _Type, scope: ChainMap[str, _Type]) -> None:
        if isinstance(target, nodes.Name):
            scope[target.name] = tp
        elif isinstance(target, nodes.Tuple):
            for item in target.items:
                self.bind(item, ANY, scope)
        # NSRef (``{% set ns.x = … %}``) binds nothing new.

    # expressions ------------------------------------------------------------
    def expr(self, node: nodes.Node, scope: ChainMap[str, _Type]) -> _Type:
        if isinstance(node, nodes.Name):
            if node.name in scope:
                return scope[node.name]
            if node.name in _GLOBALS:
                return ANY
            if node.name == "loop":
                self.report(node, "« loop » ne s'emploie que dans une boucle {% for %}")
                return ANY
            self.report(
                node,
                f"le champ « {node.name} » n'existe pas"
                f"{_suggest(node.name, [*scope.keys(), *ROOT.fields])}",
            )
            return ANY
        if isinstance(node, nodes.Getattr):
            return self.attr(node, self.expr(node.node, scope), node.attr)
        if isinstance(node, nodes.Getitem):
            base = self.expr(node.node, scope)
            if isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, str):
                return self.attr(node, base, node.arg.value)
            self.expr(node.arg, scope)
            return base.item if isinstance(base, _List) else ANY
        if isinstance(node, nodes.Filter):
            return self.filter(node, scope)
        if isinstance(node, nodes.Const | nodes.TemplateData):
            return SCALAR
        if isinstance(node, nodes.CondExpr):
            self.expr(node.test, scope)
            first = self.expr(node.expr1, scope)
            if node.expr2 is not None:
                self.expr(node.expr2, scope)
            return first
        for child in node.iter_child_nodes():
            if isinstance(child, nodes.Expr):
                self.expr(child, scope)
            elif isinstance(child, nodes.Helper):  # Keyword, Pair, Operand
                for sub in child.iter_child_nodes():
                    self.expr(sub, scope)
        return ANY

    def attr(self, node: nodes.Node, base: _Type, name: str, text: str = "") -> _Type:
        text = text or _expr_text(node)
        if name.startswith("_"):
            self.report(node, f"« {text} » : les noms qui commencent par « _ » sont interdits")
            return ANY
        if isinstance(base, _Obj):
            if name in base.fields:
                return base.fields[name]
            self.report(
                node,
                f"le champ « {text} » n'existe pas{_suggest(name, base.fields)} ; "
                f"les champs de « {base.label} » sont : {', '.join(base.fields)}",
            )
            return ANY
        if isinstance(base, _List):
            self.report(
                node,
                f"« {text} » : ce qui précède « .{name} » est une liste, "
                "parcourez-la avec {% for … in … %}",
            )
            return ANY
        return ANY  # a text's own methods (upper, replace…) or an unknown value

    def filter(self, node: nodes.Filter, scope: ChainMap[str, _Type]) -> _Type:
        base = self.expr(node.node, scope) if node.node is not None else ANY
        for arg in node.args:
            self.expr(arg, scope)
        for kw in node.kwargs:
            self.expr(kw.value, scope)
        for dyn in (node.dyn_args, node.dyn_kwargs):
            if dyn is not None:
                self.expr(dyn, scope)
        item = base.item if isinstance(base, _List) else ANY
        attribute = self._attribute_arg(node)
        if attribute is not None and isinstance(item, _Obj):
            tp: _Type = item
            text = f"{_expr_text(node)}('{attribute}')"
            for part in attribute.split("."):
                tp = self.attr(node, tp, part, text) if not part.isdigit() else ANY
            if node.name == "map":
                return _List(tp)
        if node.name in _KEEPS_TYPE:
            return base
        if node.name in _ONE_ITEM:
            return item
        return ANY

    @staticmethod
    def _attribute_arg(node: nodes.Filter) -> str | None:
        for kw in node.kwargs:
            if kw.key == "attribute" and isinstance(kw.value, nodes.Const):
                return str(kw.value.value)
        if node.name in ("selectattr", "rejectattr") and node.args:
            first = node.args[0]
            if isinstance(first, nodes.Const) and isinstance(first.value, str):
                return first.value
        return None


def check_template(template: bytes) -> list[str]:
    """The problems of a template, as French sentences; an empty list means it is usable."""
    try:
        data = docx_bytes(bytes(template))
    except TemplateError as exc:
        return [str(exc)]
    try:
        parts = list(template_parts(DocxTemplate(io.BytesIO(data))))
    except Exception as exc:
        return [f"Ce document Word ne peut pas être ouvert : {exc}."]

    env = make_environment()
    problems: list[str] = []
    has_fields = False
    for part, source in parts:
        try:
            tree = env.parse(source)
            env.compile(tree)  # unknown filters and tests show up here, not in parse
        except jinja2.TemplateSyntaxError as exc:
            problems.append(f"Erreur {where(part, source, exc.lineno)} : {explain(exc)}.")
            continue
        has_fields = has_fields or any(True for _ in tree.find_all(nodes.Name))
        checker = _Checker(part, source)
        checker.body(tree.body, ChainMap({}, dict(ROOT.fields)))
        problems.extend(checker.problems)
    if problems:
        return problems
    if not has_fields:
        return [
            "Ce modèle ne contient aucun champ (comme {{ candidat.nom_complet }}) : "
            "il donnerait le même document pour tous les candidats."
        ]
    return _trial(data)


def _trial(data: bytes) -> list[str]:
    """Render with the sample dossier, then open the result the way Word would need."""
    try:
        out = render(data, sample_context())
    except TemplateError as exc:
        return [f"Essai avec un dossier d'exemple : {exc}"]
    try:
        Document(io.BytesIO(out))
    except Exception as exc:
        return [f"Essai avec un dossier d'exemple : le document obtenu est abîmé ({exc})."]
    return []
