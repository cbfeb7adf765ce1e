-- Rule: search snippets are HTML whose only tags are <mark> and </mark> (issue 22, item 11):
-- the content around the highlights is escaped (& < > " ' as entities), so a client rendering
-- a snippet as HTML shows the message's text, never its markup. Matching is unchanged.
begin;
create extension if not exists pgtap with schema extensions;
set local search_path = extensions, public;

select plan(5);

select public.create_conversation('pgtap-snip', '7f1e0000-0000-4000-8000-0000000000c5') is not null as setup \gset
select public.append_message('pgtap-snip', 'user',
  e'<img src=x onerror=alert(1)> the\x01pgtapquokka\x02 & "quoted" and \'single\' ok') is not null as setup \gset
select tests.authenticate_as('7f1e0000-0000-4000-8000-0000000000c5');
create temp table hit on commit drop as
  select public.search_messages('pgtapquokka') -> 'hits' -> 0 ->> 'snippet' as snippet;

select is((select snippet from hit),
          'onerror=alert(1)&gt; the <mark>pgtapquokka</mark>  &amp; &quot;quoted&quot; and &#39;single',
          'the snippet: the content escaped, the match in <mark> (control characters the highlights use become spaces)');
select is((select regexp_replace(snippet, '</?mark>', '', 'g') ~ '[<>"'']' from hit), false,
          'no < > " or '' outside the <mark> tags');
select is(private.html_escape(e'a&b<c>d"e\'f'), 'a&amp;b&lt;c&gt;d&quot;e&#39;f', 'html_escape escapes the five characters');
select is(private.html_escape('&lt;'), '&amp;lt;', 'an entity in the content is shown as typed, not decoded');
select is((public.search_messages('onerror') -> 'hits' -> 0 ->> 'seq')::int, 1, 'matching is as before (words inside markup are found)');

select * from finish();
rollback;
