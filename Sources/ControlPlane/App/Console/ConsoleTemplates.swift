import Mustache

/// The console's Mustache templates, compiled in (the binary needs no template folder beside it).
/// `{{x}}` escapes HTML; `{{{x}}}` is only ever used for HTML these templates produced themselves.
enum ConsoleTemplates {
    static let library: MustacheLibrary = {
        var library = MustacheLibrary()
        for (name, text) in templates {
            // The templates are constants of this file: a parse error is a programming error.
            try! library.register(text, named: name)
        }
        return library
    }()

    static func render(_ name: String, _ object: [String: Any]) -> String {
        library.render(object, withTemplate: name) ?? ""
    }

    static let templates: [String: String] = [
        "layout": """
            <!doctype html>
            <html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
            <title>{{title}} · Rungate</title><link rel="icon" href="data:,"><link rel="stylesheet" href="/console.css"><script src="/console.js" defer></script></head>
            <body>
            <header><a class="brand" href="/">Rungate</a>
            {{#hasOrgs}}<form method="get" action="/switch" class="switch"><label>Organisation <select name="org">{{#orgs}}<option value="{{id}}"{{#current}} selected{{/current}}>{{name}}</option>{{/orgs}}</select></label> <button>Switch</button></form>{{/hasOrgs}}
            {{#email}}<span class="who">{{email}}{{#role}} · {{role}}{{/role}}</span>
            <form method="post" action="/logout" class="inline"><input type="hidden" name="csrf" value="{{csrf}}"><button>Sign out</button></form>{{/email}}
            </header>
            {{#hasNav}}<nav>{{#nav}}<a href="{{href}}"{{#active}} class="active" aria-current="page"{{/active}}>{{label}}</a>{{/nav}}</nav>{{/hasNav}}
            <main>
            {{#flash}}<p class="flash" role="status">{{flash}}</p>{{/flash}}
            {{#error}}<p class="error" role="alert">{{error}}</p>{{/error}}
            <h1>{{title}}</h1>
            {{{content}}}
            </main></body></html>
            """,
        "login": """
            <form method="post" action="/login" class="card">
            <input type="hidden" name="csrf" value="{{csrf}}">
            <label>E-mail <input type="email" name="email" required autocomplete="username" value="{{email}}"></label>
            <label>Password <input type="password" name="password" required autocomplete="current-password"></label>
            <button type="submit">Sign in</button>
            </form>
            """,
        "section": """
            <section{{#id}} id="{{id}}"{{/id}}{{#live}} data-live="{{live}}"{{/live}}>{{#heading}}<h2>{{heading}}</h2>{{/heading}}{{{body}}}</section>
            """,
        "table": """
            {{#hasRows}}<table><thead><tr>{{#columns}}<th>{{.}}</th>{{/columns}}{{#hasActions}}<th></th>{{/hasActions}}</tr></thead><tbody>
            {{#rows}}<tr>{{#cells}}<td>{{#href}}<a href="{{href}}">{{/href}}{{#code}}<code>{{/code}}{{text}}{{#code}}</code>{{/code}}{{#href}}</a>{{/href}}</td>{{/cells}}{{#hasActions}}<td class="actions">{{{actions}}}</td>{{/hasActions}}</tr>
            {{/rows}}</tbody></table>{{/hasRows}}
            {{^hasRows}}<p class="empty">{{empty}}</p>{{/hasRows}}
            """,
        "form": """
            <form method="{{method}}" action="{{action}}" class="{{class}}">
            {{#post}}<input type="hidden" name="csrf" value="{{csrf}}">{{/post}}
            {{#hidden}}<input type="hidden" name="{{name}}" value="{{value}}">{{/hidden}}
            {{#fields}}<label>{{label}} {{#select}}<select name="{{name}}">{{#options}}<option value="{{value}}"{{#selected}} selected{{/selected}}>{{label}}</option>{{/options}}</select>{{/select}}{{#textarea}}<textarea name="{{name}}" rows="{{rows}}"{{#required}} required{{/required}} placeholder="{{placeholder}}">{{value}}</textarea>{{/textarea}}{{#input}}<input type="{{type}}" name="{{name}}" value="{{value}}"{{#required}} required{{/required}} placeholder="{{placeholder}}">{{/input}}</label>
            {{/fields}}<button type="submit"{{#danger}} class="danger"{{/danger}}>{{submit}}</button>
            </form>
            """,
        "secret": """
            <div class="card"><p>{{message}}</p><p><code class="secret" id="secret">{{secret}}</code></p>
            <p>It is shown <strong>only this once</strong>: copy it now. Rungate keeps only a hash{{#sealed}} (or, for a webhook secret, a sealed copy it needs to sign){{/sealed}}.</p>
            <p><a href="{{back}}">Done</a></p></div>
            """,
        "pre": "<pre>{{text}}</pre>",
        "message": "<p>{{text}}{{#href}} <a href=\"{{href}}\">{{label}}</a>{{/href}}</p>",
    ]
}
