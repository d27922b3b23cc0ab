//! Administration pages: users and their roles, roles, API tokens, the audit log.

use leptos::prelude::*;
use uuid::Uuid;

use super::format;
use super::{ErrorNote, Note};
use crate::api::{
    change_role, create_role, create_token, create_user, delete_role, kept_for, list_audit,
    list_roles, list_tokens, list_users, reset_password, revoke_token, set_user_disabled,
    set_user_role,
};
use crate::domain::{ActionGroup, Role, User, SUPER_USER};

/// Run a server call and report in words.
fn report<T: 'static>(
    status: RwSignal<Option<Result<String, String>>>,
    reload: RwSignal<u32>,
    ok: &'static str,
    call: impl std::future::Future<Output = Result<T, crate::api::AppError>> + 'static,
) {
    leptos::task::spawn_local(async move {
        status.set(Some(match call.await {
            Ok(_) => Ok(ok.to_owned()),
            Err(e) => Err(e.to_string()),
        }));
        reload.update(|n| *n += 1);
    });
}

#[component]
pub fn UsersPage() -> impl IntoView {
    let reload = RwSignal::new(0u32);
    let status = RwSignal::new(None);
    let users = LocalResource::new(move || {
        let _ = reload.get();
        list_users()
    });
    let roles = LocalResource::new(list_roles);
    let username = RwSignal::new(String::new());
    let password = RwSignal::new(String::new());
    let add = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        report(
            status,
            reload,
            "User created.",
            create_user(username.get_untracked(), password.get_untracked()),
        );
        username.set(String::new());
        password.set(String::new());
    };
    view! {
        <h2>"Users"</h2>
        <form class="card inline-form" on:submit=add aria-label="New user">
            <div class="field"><label for="new-user">"User name"</label>
                <input id="new-user" required prop:value=move || username.get() on:input=move |ev| username.set(event_target_value(&ev))/></div>
            <div class="field"><label for="new-password">"Password"</label>
                <input id="new-password" type="password" autocomplete="new-password" required minlength="8"
                    prop:value=move || password.get() on:input=move |ev| password.set(event_target_value(&ev))/></div>
            <button type="submit" class="primary">"Add user"</button>
        </form>
        <Note status/>
        <Transition fallback=|| view! { <p aria-busy="true">"Loading users…"</p> }>
            {move || {
                let role_names: Vec<String> = roles.get().and_then(|r| r.ok()).unwrap_or_default().into_iter().map(|r| r.name).collect();
                users.get().map(|r| match r {
                    Err(e) => view! { <ErrorNote error=e/> }.into_any(),
                    Ok(list) => view! {
                        <table class="card table">
                            <thead><tr><th>"User"</th><th>"Roles"</th><th>"State"</th><th>"Give role"</th><th><span class="visually-hidden">"Actions"</span></th></tr></thead>
                            <tbody>
                                {list.into_iter().map(|u| view! { <UserRow user=u role_names=role_names.clone() status reload/> }).collect_view()}
                            </tbody>
                        </table>
                    }.into_any(),
                })
            }}
        </Transition>
    }
}

#[component]
fn UserRow(
    user: User,
    role_names: Vec<String>,
    status: RwSignal<Option<Result<String, String>>>,
    reload: RwSignal<u32>,
) -> impl IntoView {
    let id: Uuid = user.id;
    let disabled = user.disabled;
    let builtin = user.builtin;
    let name = user.username.clone();
    // The server refuses to let anyone disable themselves or take SuperUser from themselves (the
    // last door must not lock by accident), so their own row does not offer those.
    let is_me = super::use_me().id == id;
    let attach = move |ev: leptos::ev::Event| {
        let role = event_target_value(&ev);
        if !role.is_empty() {
            report(status, reload, "Role given.", set_user_role(id, role, true));
        }
    };
    // "Set password…" opens a field in the row. It closes once the password is saved; a refusal
    // is reported in the note above and leaves it open, with what was typed, to correct.
    let setting = RwSignal::new(false);
    let new_password = RwSignal::new(String::new());
    let save_password = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let password = new_password.get_untracked();
        leptos::task::spawn_local(async move {
            match reset_password(id, password).await {
                Ok(_) => {
                    status.set(Some(Ok("Password changed.".to_owned())));
                    new_password.set(String::new());
                    setting.set(false);
                }
                Err(e) => status.set(Some(Err(e.to_string()))),
            }
        });
    };
    let password_label = format!("New password for {}", user.username);
    let form_label = format!("Set the password of {}", user.username);
    // Keyboard users land in the field the button opened.
    let password_input = NodeRef::<leptos::html::Input>::new();
    Effect::new(move || {
        if let Some(input) = password_input.get() {
            let _ = input.focus();
        }
    });
    view! {
        <tr data-testid="user-row" data-username=name.clone()>
            <td>{name.clone()}</td>
            <td>
                {user.roles.iter().map(|r| {
                    let role = r.clone();
                    let kept = is_me && r == SUPER_USER;
                    view! {
                        <span class="chip">{r.clone()}
                            {(!kept).then(|| view! {
                                <button type="button" class="link" aria-label=format!("Take {} from {}", r, name)
                                    on:click=move |_| report(status, reload, "Role taken away.", set_user_role(id, role.clone(), false))>"×"</button>
                            })}
                        </span>
                    }
                }).collect_view()}
            </td>
            <td>{if builtin { "Built-in, cannot sign in" } else if disabled { "Disabled" } else { "Active" }}</td>
            {if builtin {
                // The engine's own user: it owns the jobs the engine starts by itself and cannot be
                // changed (the server refuses), so nothing is offered.
                view! { <td></td><td></td> }.into_any()
            } else {
                view! {
                    <td>
                        <label class="visually-hidden" for=format!("give-{id}")>{format!("Give {} a role", user.username)}</label>
                        <select id=format!("give-{id}") on:change=attach>
                            <option value="">"Choose a role…"</option>
                            {role_names.into_iter().filter(|r| !user.roles.contains(r)).map(|r| view! { <option value=r.clone()>{r.clone()}</option> }).collect_view()}
                        </select>
                    </td>
                    <td><div class="row-actions">
                        <Show when=move || setting.get() fallback=move || view! {
                            <button type="button" on:click=move |_| setting.set(true)>"Set password…"</button>
                        }>
                            <form class="inline-form" on:submit=save_password aria-label=form_label.clone()>
                                <label class="visually-hidden" for=format!("password-{id}")>{password_label.clone()}</label>
                                <input id=format!("password-{id}") type="password" autocomplete="new-password" required minlength="8"
                                    node_ref=password_input placeholder="At least 8 characters"
                                    prop:value=move || new_password.get() on:input=move |ev| new_password.set(event_target_value(&ev))/>
                                <button type="submit" class="primary">"Save"</button>
                                <button type="button" on:click=move |_| { new_password.set(String::new()); setting.set(false); }>"Cancel"</button>
                            </form>
                        </Show>
                        {(!is_me).then(|| view! {
                            <button type="button" on:click=move |_| report(status, reload,
                                if disabled { "User enabled." } else { "User disabled." }, set_user_disabled(id, !disabled))>
                                {if disabled { "Enable" } else { "Disable" }}
                            </button>
                        })}
                    </div></td>
                }.into_any()
            }}
        </tr>
    }
}

#[component]
pub fn RolesPage() -> impl IntoView {
    let reload = RwSignal::new(0u32);
    let status = RwSignal::new(None);
    let roles = LocalResource::new(move || {
        let _ = reload.get();
        list_roles()
    });
    let name = RwSignal::new(String::new());
    let chosen = RwSignal::new(Vec::<ActionGroup>::new());
    let add = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        report(
            status,
            reload,
            "Role created.",
            create_role(name.get_untracked(), chosen.get_untracked()),
        );
    };
    view! {
        <h2>"Roles"</h2>
        <form class="card inline-form" on:submit=add aria-label="New role">
            <div class="field"><label for="role-name">"Role name"</label>
                <input id="role-name" required prop:value=move || name.get() on:input=move |ev| name.set(event_target_value(&ev))/></div>
            <fieldset class="field"><legend>"Permissions"</legend>
                {ActionGroup::ALL.into_iter().map(|g| view! {
                    <label class="check"><input type="checkbox" on:change=move |ev| {
                        let on = event_target_checked(&ev);
                        chosen.update(|c| { c.retain(|x| *x != g); if on { c.push(g); } });
                    }/>" "{g.as_str()}</label>
                }).collect_view()}
            </fieldset>
            <button type="submit" class="primary">"Create role"</button>
        </form>
        <Note status/>
        <Transition fallback=|| view! { <p aria-busy="true">"Loading roles…"</p> }>
            {move || roles.get().map(|r| match r {
                Err(e) => view! { <ErrorNote error=e/> }.into_any(),
                Ok(list) => view! {
                    <table class="card table roles-table">
                        <thead><tr><th>"Role"</th><th>"Permissions"</th><th>"Shipped"</th><th><span class="visually-hidden">"Actions"</span></th></tr></thead>
                        <tbody>{list.into_iter().map(|r: Role| view! { <RoleRow role=r status reload/> }).collect_view()}</tbody>
                    </table>
                }.into_any(),
            })}
        </Transition>
    }
}

#[component]
pub fn TokensPage() -> impl IntoView {
    let reload = RwSignal::new(0u32);
    let status = RwSignal::new(None);
    let tokens = LocalResource::new(move || {
        let _ = reload.get();
        list_tokens()
    });
    let users = LocalResource::new(list_users);
    let name = RwSignal::new(String::new());
    let user = RwSignal::new(String::new());
    let secret = RwSignal::new(None::<String>);
    let add = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let user_id = Uuid::parse_str(&user.get_untracked()).ok();
        let name = name.get_untracked();
        leptos::task::spawn_local(async move {
            match create_token(name, user_id).await {
                Ok(t) => {
                    secret.set(t.token);
                    status.set(None);
                }
                Err(e) => status.set(Some(Err(e.to_string()))),
            }
            reload.update(|n| *n += 1);
        });
    };
    view! {
        <h2>"API tokens"</h2>
        <form class="card inline-form" on:submit=add aria-label="New API token">
            <div class="field"><label for="token-name">"Name"</label>
                <input id="token-name" required placeholder="e.g. backup plug-in" prop:value=move || name.get() on:input=move |ev| name.set(event_target_value(&ev))/></div>
            <div class="field"><label for="token-user">"Acts as"</label>
                <select id="token-user" on:change=move |ev| user.set(event_target_value(&ev))>
                    // Each option follows the choice, so the list drawn again cannot show another.
                    <option value="" prop:selected=move || user.with(String::is_empty)>"Me"</option>
                    {move || users.get().and_then(|r| r.ok()).unwrap_or_default().into_iter().filter(|u| !u.builtin).map(|u| {
                        let id = u.id.to_string();
                        view! { <option value=id.clone() prop:selected=move || user.with(|v| *v == id)>{u.username}</option> }
                    }).collect_view()}
                </select></div>
            <button type="submit" class="primary">"Create token"</button>
        </form>
        {move || secret.get().map(|s| view! {
            <div class="card secret" role="status">
                <p>"Copy this token now; it will not be shown again:"</p>
                <code data-testid="new-token">{s}</code>
            </div>
        })}
        <Note status/>
        <Transition fallback=|| view! { <p aria-busy="true">"Loading tokens…"</p> }>
            {move || tokens.get().map(|r| match r {
                Err(e) => view! { <ErrorNote error=e/> }.into_any(),
                Ok(list) => view! {
                    <table class="card table">
                        <thead><tr><th>"Name"</th><th>"Acts as"</th><th>"Created"</th><th>"State"</th><th><span class="visually-hidden">"Actions"</span></th></tr></thead>
                        <tbody>{list.into_iter().map(|t| {
                            let id = t.id;
                            let revoked = t.revoked_at.is_some();
                            view! {
                                <tr><td>{t.name.clone()}</td><td>{t.username.clone()}</td><td>{format::time(t.created_at)}</td>
                                    <td>{if revoked { "Revoked" } else { "Active" }}</td>
                                    <td><Show when=move || !revoked>
                                        <button type="button" on:click=move |_| report(status, reload, "Token revoked.", revoke_token(id))>"Revoke"</button>
                                    </Show></td></tr>
                            }
                        }).collect_view()}</tbody>
                    </table>
                }.into_any(),
            })}
        </Transition>
    }
}

#[component]
pub fn AuditPage() -> impl IntoView {
    let entries = LocalResource::new(|| list_audit(None));
    let kept = LocalResource::new(kept_for);
    view! {
        <h2>"Audit log"</h2>
        // The line is there from the start, so the table does not move when it is filled in.
        <p class="muted" data-testid="audit-kept">{move || match kept.get() {
            Some(Ok(k)) => format!(
                "Records are kept for {}, then deleted.",
                format::amount(k.audit_days, "day")
            ),
            _ => "\u{a0}".to_owned(),
        }}</p>
        <Transition fallback=|| view! { <p aria-busy="true">"Loading the audit log…"</p> }>
            {move || entries.get().map(|r| match r {
                Err(e) => view! { <ErrorNote error=e/> }.into_any(),
                Ok(list) => view! {
                    <table class="card table">
                        <thead><tr><th>"When"</th><th>"Who"</th><th>"What"</th><th>"Whom"</th><th>"From"</th><th>"Outcome"</th></tr></thead>
                        <tbody>{list.into_iter().map(|e| view! {
                            <tr><td>{format::time(e.at)}</td><td>{e.actor.unwrap_or_else(|| "—".into())}</td>
                                <td>{e.action.replace('_', " ")}{e.detail.map(|d| format!(" ({d})"))}</td>
                                <td>{e.target.unwrap_or_default()}</td><td>{e.address.unwrap_or_default()}</td>
                                <td>{if e.success { "OK" } else { "Refused" }}</td></tr>
                        }).collect_view()}</tbody>
                    </table>
                }.into_any(),
            })}
        </Transition>
    }
}

/// A role: its permissions, and for a role made here, changing them or deleting it.
#[component]
fn RoleRow(
    role: Role,
    status: RwSignal<Option<Result<String, String>>>,
    reload: RwSignal<u32>,
) -> impl IntoView {
    let name = role.name.clone();
    let shown = role
        .action_groups
        .iter()
        .map(|g| g.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    let editing = RwSignal::new(false);
    let confirming = RwSignal::new(false);
    let chosen = RwSignal::new(role.action_groups.clone());
    let original = role.action_groups.clone();
    let save = {
        let name = name.clone();
        move |ev: leptos::ev::SubmitEvent| {
            ev.prevent_default();
            let name = name.clone();
            leptos::task::spawn_local(async move {
                match change_role(name, chosen.get_untracked()).await {
                    Ok(_) => {
                        status.set(Some(Ok("Permissions changed.".to_owned())));
                        editing.set(false);
                        reload.update(|n| *n += 1);
                    }
                    Err(e) => status.set(Some(Err(e.to_string()))),
                }
            });
        }
    };
    let remove = {
        let name = name.clone();
        move |_| {
            confirming.set(false);
            report(status, reload, "Role deleted.", delete_role(name.clone()));
        }
    };
    let form_label = format!("Permissions of {name}");
    // Keyboard users land on what the button they pressed opened.
    let first_box = NodeRef::<leptos::html::Input>::new();
    let confirm_button = NodeRef::<leptos::html::Button>::new();
    Effect::new(move || {
        if let Some(input) = first_box.get() {
            let _ = input.focus();
        }
    });
    Effect::new(move || {
        if let Some(button) = confirm_button.get() {
            let _ = button.focus();
        }
    });
    let actions = if role.builtin {
        view! { <span class="muted">"Shipped; cannot be changed"</span> }.into_any()
    } else {
        let (delete_label, edit_label) = (
            format!("Delete role {name}"),
            format!("Change the permissions of {name}"),
        );
        view! {
            <div class="row-actions">
                <Show when=move || confirming.get() fallback=move || {
                    let edit_label = edit_label.clone();
                    view! {
                        <Show when=move || !editing.get()>
                            <button type="button" aria-label=edit_label.clone()
                                on:click=move |_| editing.set(true)>"Change permissions…"</button>
                        </Show>
                        <button type="button" on:click=move |_| { editing.set(false); confirming.set(true); }>"Delete…"</button>
                    }
                }>
                    <button type="button" class="danger" node_ref=confirm_button on:click=remove.clone()>{delete_label.clone()}</button>
                    <button type="button" on:click=move |_| confirming.set(false)>"Cancel"</button>
                </Show>
            </div>
        }
        .into_any()
    };
    view! {
        <tr data-testid="role-row" data-role=name.clone()>
            <td>{name.clone()}</td>
            <td>
                <Show when=move || editing.get() fallback={
                    let shown = shown.clone();
                    move || shown.clone()
                }>
                    <form class="inline-form" on:submit=save.clone() aria-label=form_label.clone()>
                        {ActionGroup::ALL.into_iter().enumerate().map(|(i, g)| {
                            let node = if i == 0 { first_box } else { NodeRef::new() };
                            view! {
                                <label class="check"><input type="checkbox" node_ref=node prop:checked=move || chosen.get().contains(&g)
                                    on:change=move |ev| {
                                        let on = event_target_checked(&ev);
                                        chosen.update(|c| { c.retain(|x| *x != g); if on { c.push(g); } });
                                    }/>" "{g.as_str()}</label>
                            }
                        }).collect_view()}
                        <button type="submit" class="primary">"Save"</button>
                        <button type="button" on:click={
                            let original = original.clone();
                            move |_| { chosen.set(original.clone()); editing.set(false); }
                        }>"Cancel"</button>
                    </form>
                </Show>
            </td>
            <td>{if role.builtin { "Yes" } else { "No" }}</td>
            <td>{actions}</td>
        </tr>
    }
}
